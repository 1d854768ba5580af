"""The adder af_pe at every lane width 2..16 and at lane counts around its word packing.

Verilator simulates af_pe's adder element in a SIMD-within-a-register form (several lanes
per 64-bit word, fields summed by a multiply or, when the total could overflow a field,
field by field every few words); synthesis and Icarus read the plain lane-by-lane form.
This sweep drives both, against ``adder_gemm``, beat by beat: per width ``b`` the lane
counts 1, a word's lanes ``LC`` and its neighbours, one that spans three words,
``2**b + 1`` (the multiply's last exact count, up to b = 8) and ``2**b + 2`` (the first
summed field by field, up to b = 6), and one lane more than a field group (``2**(b-1)``
words, up to b = 4). The first four dot products (four beats each) are the extremes:
all-max against all-min and back (``-K(2**b - 1)``, the accumulator bound), all-min
against all-min and all-max against all-max (0); the rest mix random codes with extremes
lane by lane. One generated wrapper holds every element; idle cycles (``ce`` low, junk
operands) fall between beats.
"""

from __future__ import annotations

import json

import cocotb
import numpy as np
from benches import junk, load_case, start
from cocotb.triggers import FallingEdge

from adderflow.hw.rtlgen import pack_lanes, pe_acc_bits, rtl_sources
from adderflow.sim.reference import adder_gemm

BEATS = 4  # beats a dot product: K = BEATS * SIMD
GROUPS = 10
WIDTHS = range(2, 17)

# ---- cocotb side ---------------------------------------------------------------------


@cocotb.test()
async def lanes_sweep(dut):
    """Every element's accumulator equals the reference after every cycle."""
    case = load_case()
    await start(dut, reset=False)
    rng = np.random.default_rng(case["seed"])
    elements = case["elements"]
    for t in range(len(case["ce"]) + 1):
        if t:
            await FallingEdge(dut.clk)
            bus = dut.acc.value.to_unsigned()
            for e in elements:
                got = (bus >> e["acc_at"]) & ((1 << e["acc_bits"]) - 1)
                got -= (got >> (e["acc_bits"] - 1)) << e["acc_bits"]
                want = e["expected"][t - 1]
                assert got == want, f"mismatch in {e['name']} after cycle {t - 1}: {got} != {want}"
        if t == len(case["ce"]):
            break
        dut.ce.value = case["ce"][t]
        dut.first.value = case["first"][t]
        if case["ce"][t]:
            dut.x.value, dut.w.value = int(case["x"][t], 16), int(case["w"][t], 16)
        else:  # idle: junk operands must not reach the accumulators
            dut.x.value, dut.w.value = junk(rng, len(dut.x)), junk(rng, len(dut.w))


# ---- pytest side ---------------------------------------------------------------------


def lane_counts(bits: int) -> list[int]:
    """The sweep's lane counts at ``bits`` (see the module docstring)."""
    word = (64 // bits) // 2 * 2  # lanes of one 64-bit word in the Verilator form
    counts = {1, word - 1, word, word + 1, 2 * word + 3}
    if bits <= 8:  # the multiply's last exact count
        counts.add((1 << bits) + 1)
    if bits <= 6:  # the first count summed field by field
        counts.add((1 << bits) + 2)
    if bits <= 4:  # one lane more than a field group holds
        counts.add((1 << (bits - 1)) * word + 1)
    return sorted(counts)


def elements() -> list[dict]:
    out, x_at, acc_at = [], 0, 0
    for bits in WIDTHS:
        for simd in lane_counts(bits):
            acc_bits = pe_acc_bits("adder", bits, BEATS * simd)
            out.append(
                {
                    "name": f"b{bits}_s{simd}",
                    "bits": bits,
                    "simd": simd,
                    "acc_bits": acc_bits,
                    "x_at": x_at,
                    "acc_at": acc_at,
                }
            )
            x_at += bits * simd
            acc_at += acc_bits
    return out


def wrapper(elems: list[dict]) -> str:
    """Verilog of the test-only top: one adder af_pe per element on shared buses."""
    x_w = sum(e["bits"] * e["simd"] for e in elems)
    acc_w = sum(e["acc_bits"] for e in elems)
    lines = [
        "`default_nettype none",
        "module af_pe_lanes (",
        "    input wire clk, input wire ce, input wire first,",
        f"    input wire [{x_w - 1}:0] x, input wire [{x_w - 1}:0] w,",
        f"    output wire [{acc_w - 1}:0] acc",
        ");",
    ]
    for e in elems:
        lanes, k = e["bits"] * e["simd"], BEATS * e["simd"]
        lines.append(
            f'    af_pe #(.MODE("adder"), .SIMD({e["simd"]}), .BITS({e["bits"]}), .K({k})) '
            f"u_{e['name']} (.clk(clk), .ce(ce), .first(first), "
            f".x(x[{e['x_at']} +: {lanes}]), .w(w[{e['x_at']} +: {lanes}]), "
            f".acc(acc[{e['acc_at']} +: {e['acc_bits']}]));"
        )
    lines += ["endmodule", "`default_nettype wire", ""]
    return "\n".join(lines)


def operands(bits: int, simd: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """GROUPS dot products of BEATS * simd codes, the first four at the extremes."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    shape = (GROUPS, BEATS * simd)
    x = rng.integers(lo, hi, size=shape, endpoint=True)
    w = rng.integers(lo, hi, size=shape, endpoint=True)
    # lanes at an extreme among random ones
    x = np.where(rng.random(shape) < 0.2, rng.choice([lo, hi], size=shape), x)
    w = np.where(rng.random(shape) < 0.2, rng.choice([lo, hi], size=shape), w)
    for g, (xv, wv) in enumerate([(hi, lo), (lo, hi), (lo, lo), (hi, hi)]):
        x[g], w[g] = xv, wv
    return x, w


def make_case(seed: int = 5) -> dict:
    rng = np.random.default_rng(seed)
    elems = elements()
    ce, first, slots = [], [], []  # slots[t] = (group, beat) or None
    for g in range(GROUPS):
        for beat in range(BEATS):
            while slots and rng.random() < 0.25:
                ce.append(0), first.append(0), slots.append(None)
            ce.append(1), first.append(int(beat == 0)), slots.append((g, beat))
    xs, ws = [0] * len(slots), [0] * len(slots)
    for e in elems:
        bits, simd = e["bits"], e["simd"]
        x, w = operands(bits, simd, rng)
        expected, acc = [], None
        for t, slot in enumerate(slots):
            if slot is not None:
                g, beat = slot
                lanes = slice(beat * simd, (beat + 1) * simd)
                xs[t] |= pack_lanes(x[g, lanes], bits)[0] << e["x_at"]
                ws[t] |= pack_lanes(w[g, lanes], bits)[0] << e["x_at"]
                terms = slice(0, (beat + 1) * simd)  # the reference over the terms so far
                acc = int(adder_gemm(x[g : g + 1, terms], w[g : g + 1, terms])[0, 0])
            expected.append(acc)
        e["expected"] = expected
    # bus words in hex: JSON's decimal integers stop at 4300 digits
    hexes = {"x": [f"{v:x}" for v in xs], "w": [f"{v:x}" for v in ws]}
    return {"seed": seed, "ce": ce, "first": first, **hexes, "elements": elems}


def build(hdl, sim: str, case: dict):
    # one path for the session, so that the build cache serves every test
    top = hdl.root / "af_pe_lanes.v"
    top.write_text(wrapper(case["elements"]))
    return hdl.build(sim, "af_pe_lanes", [top, *rtl_sources(["af_pe.v"])], {})


def test_lane_counts_cover_every_path():
    """The sweep reaches what the Verilator form distinguishes, at every width."""
    for bits in WIDTHS:
        word = (64 // bits) // 2 * 2
        counts = lane_counts(bits)
        assert {1, word - 1, word, word + 1} <= set(counts)
        assert max(counts) > 2 * word  # three words
        if bits <= 6:  # the last count the multiply sums and the first it does not
            assert {(1 << bits) + 1, (1 << bits) + 2} <= set(counts)
    # field groups: more than one at the narrow widths
    assert all(max(lane_counts(b)) > (1 << (b - 1)) * ((64 // b) // 2 * 2) for b in (2, 3, 4))


def test_pe_lanes_match_reference(hdl, sim, tmp_path):
    case = make_case()
    for e in case["elements"]:  # the extremes reach the accumulator bound exactly
        bound = -BEATS * e["simd"] * ((1 << e["bits"]) - 1)
        assert bound in e["expected"] and 0 in e["expected"]
    (tmp_path / "case.json").write_text(json.dumps(case))
    built = build(hdl, sim, case)
    outcomes = hdl.run(built, "test_cocotb_pe_lanes", tmp_path, tmp_path / "case.json")
    hdl.assert_passed(outcomes, {"lanes_sweep"})


def test_pe_lanes_detect_a_wrong_expected_value(hdl, tmp_path):
    case = make_case()
    element = next(e for e in case["elements"] if e["name"] == "b8_s257")
    element["expected"][9] += 1
    (tmp_path / "case.json").write_text(json.dumps(case))
    built = build(hdl, "verilator", case)
    outcomes = hdl.run(built, "test_cocotb_pe_lanes", tmp_path, tmp_path / "case.json")
    assert not outcomes["lanes_sweep"].passed
    assert "mismatch in b8_s257 after cycle 9" in outcomes["lanes_sweep"].message
