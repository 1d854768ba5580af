"""af_pe against the NumPy reference for every (MODE, BITS) of the sweep, beat by beat.

One build of the test-only wrapper ``af_pe_bank.v`` holds adder and mac elements at BITS
2, 4, 8, 16 and two xnor elements (1-bit lanes, and 2-bit codes +1/-1/0 against 1-bit
weights, where a 0 is a padded tap that does not vote); all share ``ce``/``first``. Dot
products of 1..SF beats (at most K terms) run back to back with random idle cycles (``ce``
low, junk operands) between beats; after every cycle each accumulator must equal the
reference's partial sum (``adder_gemm`` / ``int_gemm`` / the binary reference's masked
popcount over the terms so far) and hold while idle. The first three dot products are the
extremes: all-max against all-min (the adder bound ``-K(2**b - 1)``), all-min against
all-min (the mac bound ``K * 2**(2b-2)``, tight at K = 16), all-min against all-max; the
2-bit xnor element's fourth is all padding (sum 0).
"""

from __future__ import annotations

import json
from pathlib import Path

import cocotb
import numpy as np
from benches import junk, load_case, start
from cocotb.triggers import FallingEdge

from adderflow.fixed import pack_bits
from adderflow.hw.rtlgen import bipolar_to_bits, pack_lanes, pe_acc_bits, rtl_sources
from adderflow.sim.reference import _xnor_rows, adder_gemm, int_gemm

BANK = Path(__file__).resolve().parent / "af_pe_bank.v"
SIMD, K = 4, 16
ELEMENTS = {
    **{f"a{b}": ("adder", b) for b in (2, 4, 8, 16)},
    **{f"m{b}": ("mac", b) for b in (2, 4, 8, 16)},
    "x1": ("xnor", 1),
    "x2": ("xnor", 2),
}

# ---- cocotb side ---------------------------------------------------------------------


@cocotb.test()
async def pe_sweep(dut):
    """Every element's accumulator equals the reference after every cycle."""
    case = load_case()
    await start(dut, reset=False)
    rng = np.random.default_rng(case["seed"])
    elements = case["elements"]
    for t in range(len(case["ce"]) + 1):
        if t:
            await FallingEdge(dut.clk)
            for name, element in elements.items():
                got = getattr(dut, f"acc_{name}").value.to_signed()
                want = element["expected"][t - 1]
                assert got == want, f"mismatch in {name} after cycle {t - 1}: {got} != {want}"
        if t == len(case["ce"]):
            break
        dut.ce.value = case["ce"][t]
        dut.first.value = case["first"][t]
        for name, element in elements.items():
            x, w = getattr(dut, f"x_{name}"), getattr(dut, f"w_{name}")
            if case["ce"][t]:
                x.value, w.value = element["x"][t], element["w"][t]
            else:  # idle: junk operands must not reach the accumulator
                x.value, w.value = junk(rng, len(x)), junk(rng, len(w))


# ---- pytest side ---------------------------------------------------------------------


def operands(mode: str, bits: int, rng, groups: int) -> tuple[np.ndarray, np.ndarray]:
    """``groups`` dot products of K terms each, the first three at the extremes."""
    if mode == "xnor":
        lo, hi = -1, 1
        # 2-bit codes: a third of the taps are padding (0), which must not vote
        values = [-1, 0, 1] if bits == 2 else [-1, 1]
        x = rng.choice(np.array(values), size=(groups, K))
        w = rng.choice(np.array([-1, 1]), size=(groups, K))
    else:
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        x = rng.integers(lo, hi, size=(groups, K), endpoint=True)
        w = rng.integers(lo, hi, size=(groups, K), endpoint=True)
    x[0], w[0] = hi, lo
    x[1], w[1] = lo, lo
    x[2], w[2] = lo, hi
    if mode == "xnor" and bits == 2:
        x[3], w[3] = 0, hi  # every tap padding: the sum stays 0
    return x, w


def binary_reference(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The reference's masked popcount: ``2·popcount(xnor(x, w) & votes) − votes`` with
    codes 0 (padding) not voting, ``w`` packed as the IR stores it."""
    return _xnor_rows(x, pack_bits(w))


def make_case(seed: int = 3, groups: int = 12) -> dict:
    rng = np.random.default_rng(seed)
    # The shared schedule: group g uses its first lengths[g] beats; idle cycles between.
    lengths = [K // SIMD] * 3 + rng.integers(1, K // SIMD, size=groups - 3, endpoint=True).tolist()
    ce, first, slots = [], [], []  # slots[t] = (group, beat) or None
    for g, length in enumerate(lengths):
        for beat in range(length):
            while slots and rng.random() < 0.25:
                ce.append(0), first.append(0), slots.append(None)
            ce.append(1), first.append(int(beat == 0)), slots.append((g, beat))
    elements = {}
    for name, (mode, bits) in ELEMENTS.items():
        x, w = operands(mode, bits, rng, groups)
        gemm = {"adder": adder_gemm, "mac": int_gemm}.get(mode, binary_reference)
        # 1-bit xnor lanes are bits (1 = +1); 2-bit xnor lanes are the signed codes
        stored_x = bipolar_to_bits(x) if (mode, bits) == ("xnor", 1) else x
        stored_w = bipolar_to_bits(w) if mode == "xnor" else w
        x_signed = (mode, bits) != ("xnor", 1)
        w_bits = 1 if mode == "xnor" else bits
        xs, ws, expected, acc = [], [], [], None
        for slot in slots:
            if slot is None:
                xs.append(0), ws.append(0), expected.append(acc)
                continue
            g, beat = slot
            lanes = slice(beat * SIMD, (beat + 1) * SIMD)
            xs.append(pack_lanes(stored_x[g, lanes], bits, x_signed)[0])
            ws.append(pack_lanes(stored_w[g, lanes], w_bits, mode != "xnor")[0])
            terms = slice(0, (beat + 1) * SIMD)  # the reference over the terms so far
            acc = int(gemm(x[g : g + 1, terms], w[g : g + 1, terms])[0, 0])
            expected.append(acc)
        width = pe_acc_bits(mode, bits, K)
        assert all(-(1 << (width - 1)) <= a < (1 << (width - 1)) for a in expected)
        elements[name] = {"x": xs, "w": ws, "expected": expected}
    return {"seed": seed, "ce": ce, "first": first, "elements": elements}


def test_pe_matches_reference(hdl, sim, tmp_path):
    case = make_case()
    # The extremes reach the contract's bounds exactly.
    assert -K * ((1 << 16) - 1) in case["elements"]["a16"]["expected"]
    assert K * (1 << (2 * 16 - 2)) in case["elements"]["m16"]["expected"]
    for name in ("x1", "x2"):  # +-K at the xnor extremes
        assert {-K, K} <= set(case["elements"][name]["expected"])
    (tmp_path / "case.json").write_text(json.dumps(case))
    build = hdl.build(sim, "af_pe_bank", [BANK, *rtl_sources(["af_pe.v"])], {"SIMD": SIMD, "K": K})
    outcomes = hdl.run(build, "test_cocotb_pe", tmp_path, tmp_path / "case.json")
    hdl.assert_passed(outcomes, {"pe_sweep"})


def test_pe_detects_a_wrong_expected_value(hdl, sim, tmp_path):
    case = make_case()
    case["elements"]["m8"]["expected"][7] -= 1
    (tmp_path / "case.json").write_text(json.dumps(case))
    build = hdl.build(sim, "af_pe_bank", [BANK, *rtl_sources(["af_pe.v"])], {"SIMD": SIMD, "K": K})
    outcomes = hdl.run(build, "test_cocotb_pe", tmp_path, tmp_path / "case.json")
    assert not outcomes["pe_sweep"].passed
    assert "mismatch in m8 after cycle 7" in outcomes["pe_sweep"].message
