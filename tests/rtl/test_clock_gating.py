"""Each gated unit's ``af_idle`` claim, checked against the unit on the plain clock.

The generated top gives groups of units a clock that skips the edges on which, by their
``af_idle`` wires, no register can change (adderflow.hw.network.gating; Verilator only).
Here every gated unit kind, over a sweep of parameters (folds of 1 and more, fork widths,
FIFO depths, pooled, strided and one-word windows, the three MVU modes), is simulated
twice on the same random inputs: one copy on ``clk``, one on the clock
``gating.StageClocks`` writes for it. Inputs change at the falling edge, as the cocotb
benches drive them: valids with gaps of several rates, data that changes also while not
valid, out_ready under random back-pressure, and two resets. On every cycle the two
copies' outputs (ready, valid and the data registers, valid or not) must be equal; each
pair must both skip edges and emit words, or the test proves nothing.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
from conftest import missing, verilator_bin

from adderflow.hw.network.gating import GATED, StageClocks
from adderflow.hw.rtlgen import MvuConfig, RequantConfig, WindowConfig, hdl_literal
from adderflow.hw.simulate import verilator_env

RTL = Path(__file__).resolve().parents[2] / "hw" / "rtl"
CYCLES = 30_000
SEED = 20261203
# (module, parameters, port kind); kind "stream": one input stream and one output stream
UNITS: list[tuple[str, dict[str, object], str]] = [
    ("af_skid", {"WIDTH": 8}, "stream"),
    ("af_fifo", {"DEPTH": 1, "W": 6}, "stream"),
    ("af_fifo", {"DEPTH": 5, "W": 6}, "stream"),
    ("af_fork", {"N": 1, "W": 5}, "fork"),
    ("af_fork", {"N": 3, "W": 5}, "fork"),
    ("af_add", {"LANES": 2, "A_BITS": 5, "B_BITS": 7, "SHIFT_A": 2, "SHIFT_B": 0,
                "OUT_BITS": 10}, "add"),
    ("af_mvu", MvuConfig("adder", 4, k=12, out=6, pe=2, simd=3), "stream"),
    ("af_mvu", MvuConfig("mac", 3, k=4, out=2, pe=1, simd=4), "stream"),
    ("af_mvu", MvuConfig("xnor", 2, k=27, out=6, pe=3, simd=9), "stream"),
    ("af_mvu", MvuConfig("adder", 4, k=1, out=1), "stream"),
    ("af_requant", RequantConfig(ch=6, pe=2, acc_bits=14, m_bits=10, b_bits=18, shift=6,
                                 out_bits=8), "stream"),
    ("af_requant", RequantConfig(ch=1, pe=1, acc_bits=4, m_bits=2, b_bits=2, shift=3,
                                 out_bits=2), "stream"),
    ("af_window", WindowConfig(8, 4, 5, 6, (3, 3), 1, 1, 1, 2), "stream"),
    ("af_window", WindowConfig(16, 3, 7, 7, (3, 3), 2, 0, 1, 3), "stream"),
    ("af_window", WindowConfig(8, 4, 4, 4, (2, 2), 1, 0, 2, 2, pool_mode="avg"), "stream"),
    ("af_window", WindowConfig(8, 1, 1, 1, (1, 1), 1, 0, 1, 1), "stream"),
]  # fmt: skip
SOURCES = ("af_skid.v", "af_fifo.v", "af_fork.v", "af_add.v", "af_mvu.v", "af_pe.v",
           "af_requant.v", "af_round.v", "af_window.v")  # fmt: skip
RATES = ((15, 40), (60, 90), (35, 100), (5, 70))  # % of cycles: in valid, out ready


def _params(module: str, spec, work: Path, i: int) -> dict[str, object]:
    """HDL parameters; the units' memory files filled with random words."""
    rng = np.random.default_rng(SEED + i)
    if isinstance(spec, MvuConfig):
        width = spec.pe * spec.simd * (1 if spec.mode == "xnor" else spec.bits)
        depth = spec.k // spec.simd * spec.out // spec.pe
        return spec.parameters(_memory(work / f"w{i}.hex", rng, width, depth))
    if isinstance(spec, RequantConfig):
        depth = spec.ch // spec.pe
        mult = _memory(work / f"m{i}.hex", rng, spec.pe * spec.m_bits, depth)
        return spec.parameters(mult, _memory(work / f"b{i}.hex", rng, spec.pe * spec.b_bits, depth))
    if isinstance(spec, WindowConfig):
        return spec.parameters()
    return spec


def _memory(path: Path, rng: np.random.Generator, width: int, depth: int) -> str:
    digits = (width + 3) // 4
    words = ["".join(rng.choice(list("0123456789abcdef"), digits)) for _ in range(depth)]
    path.write_text("\n".join(words) + "\n")
    return str(path)


def _widths(module: str, p: dict[str, object]) -> dict[str, int]:
    """Port widths: in/out data (a, b for af_add) and the fork's ready/valid vector."""
    if module == "af_skid":
        return {"in": p["WIDTH"], "out": p["WIDTH"]}
    if module == "af_fifo":
        return {"in": p["W"], "out": p["W"]}
    if module == "af_fork":
        return {"in": p["W"], "out": p["N"] * p["W"], "n": p["N"]}
    if module == "af_add":
        return {"a": p["LANES"] * p["A_BITS"], "b": p["LANES"] * p["B_BITS"],
                "out": p["LANES"] * p["OUT_BITS"]}  # fmt: skip
    if module == "af_mvu":
        acc = p["ACC_BITS"]
        return {"in": p["SIMD"] * p["BITS"], "out": p["PE"] * acc}
    if module == "af_requant":
        return {"in": p["PE"] * p["ACC_BITS"], "out": p["PE"] * p["OUT_BITS"]}
    return {"in": p["LANES"] * p["BITS"], "out": p["LANES"] * p["BITS"]}  # af_window


def _random(width: int) -> str:
    words = (width + 31) // 32
    return "{" + ", ".join(["$random(seed)"] * words) + "}"


def _pair(i: int, module: str, p: dict[str, object], kind: str, clocks: StageClocks):
    """Declarations, the two instances, stimulus and checks of pair ``i``."""
    w = _widths(module, p)
    n = w.get("n", 1)
    inputs = ["a", "b"] if kind == "add" else ["x"]
    decl = [f"    reg [{n - 1}:0] r{i};", f"    wire [{w['out'] - 1}:0] od{i}_a, od{i}_b;"]
    decl += [f"    wire [{n - 1}:0] ov{i}_a, ov{i}_b;"]
    for s in inputs:
        width = w[s] if kind == "add" else w["in"]
        decl += [f"    reg v{i}{s};", f"    reg [{width - 1}:0] d{i}{s};"]
        decl += [f"    wire ir{i}{s}_a, ir{i}{s}_b;"]
    clock = clocks.join(f"g{i}", [(module, f"u{i}_b", [f"v{i}{s}" for s in inputs])])
    insts = []
    for copy, clk in (("a", "clk"), ("b", clock)):
        ports = [f".clk({clk})", ".rst(rst)"]
        if kind == "add":
            for s in inputs:
                ports += [f".{s}_valid(v{i}{s})", f".{s}_ready(ir{i}{s}_{copy})",
                          f".{s}_data(d{i}{s})"]  # fmt: skip
        else:
            ports += [f".in_valid(v{i}x)", f".in_ready(ir{i}x_{copy})", f".in_data(d{i}x)"]
        ports += [f".out_valid(ov{i}_{copy})", f".out_ready(r{i})", f".out_data(od{i}_{copy})"]
        params = ", ".join(f".{k}({hdl_literal(v)})" for k, v in p.items())
        insts.append(f"    {module} #({params}) u{i}_{copy} ({', '.join(ports)});")
    valid_rate, ready_rate = RATES[i % len(RATES)]
    drive = [f"        v{i}{s} <= ($random(seed) & 127) % 100 < {valid_rate};" for s in inputs]
    drive += [f"        d{i}{s} <= {_random(w[s] if kind == 'add' else w['in'])};" for s in inputs]
    ready = f"{{{n}{{(($random(seed) & 127) % 100 < {ready_rate})}}}}"
    drive += [f"        r{i} <= {_random(n)} | {ready};"]
    same = " && ".join(
        [f"ov{i}_a == ov{i}_b", f"od{i}_a == od{i}_b"]
        + [f"ir{i}{s}_a == ir{i}{s}_b" for s in inputs]
    )
    check = [
        f"        if (!({same})) begin",
        f"            if (bad[{i}] == 0) first[{i}] = cycle;",
        f"            bad[{i}] = bad[{i}] + 1;",
        "        end",
        f"        if (!rst && |(ov{i}_a & r{i})) fired[{i}] = fired[{i}] + 1;",
    ]
    skip = [f"        if (!g{i}_en_l) skipped[{i}] = skipped[{i}] + 1;"]
    return decl, insts, drive, check, skip


def _bench(work: Path) -> str:
    clocks, decl, insts, drive, check, skip = StageClocks(), [], [], [], [], []
    for i, (module, spec, kind) in enumerate(UNITS):
        parts = _pair(i, module, _params(module, spec, work, i), kind, clocks)
        for into, lines in zip((decl, insts, drive, check, skip), parts, strict=True):
            into += lines
    n = len(UNITS)
    return "\n".join([
        "`default_nettype none",
        "module gating_tb;",
        "    reg clk = 1'b0;",
        "    always #5 clk = !clk;",
        "    reg rst = 1'b1;",
        f"    integer seed = {SEED};",
        "    integer cycle = 0;",
        f"    integer bad [0:{n - 1}], first [0:{n - 1}], fired [0:{n - 1}], "
        f"skipped [0:{n - 1}];",
        "    integer k;",
        *decl,
        *clocks.declarations(),
        *insts,
        *clocks.enables(),
        f"    initial for (k = 0; k < {n}; k = k + 1) begin",
        "        bad[k] = 0; first[k] = -1; fired[k] = 0; skipped[k] = 0;",
        "    end",
        "    always @(posedge clk) begin",
        *skip,
        "    end",
        "    always @(negedge clk) begin",  # inputs change while clk is low, as cocotb's
        *check,
        *drive,
        f"        rst <= cycle < 4 || (cycle >= {CYCLES // 2} && cycle < {CYCLES // 2 + 2});",
        "        cycle = cycle + 1;",
        f"        if (cycle == {CYCLES}) begin",
        f"            for (k = 0; k < {n}; k = k + 1)",
        '                $display("pair %0d bad %0d first %0d fired %0d skipped %0d", k, '
        "bad[k], first[k], fired[k], skipped[k]);",
        "            $finish;",
        "        end",
        "    end",
        "endmodule",
        "`default_nettype wire",
        "",
    ])  # fmt: skip


def test_gated_units_match_the_plain_clock(tmp_path: Path) -> None:
    assert {module for module, _, _ in UNITS} == set(GATED), "a gated unit kind unchecked"
    directory = verilator_bin()
    if directory is None:
        missing("verilator")
    bench = tmp_path / "gating_tb.v"
    bench.write_text(_bench(tmp_path))
    build = tmp_path / "build"
    cmd = [
        str(Path(directory) / "verilator"), "--binary", "--timing", "-O1", "-Wno-fatal",
        "-CFLAGS", "-std=c++20", "--top-module", "gating_tb", "-Mdir", str(build),
        str(bench), *[str(RTL / s) for s in SOURCES],
    ]  # fmt: skip
    done = subprocess.run(cmd, capture_output=True, text=True, env=verilator_env())
    assert done.returncode == 0, done.stderr[-3000:]
    run = subprocess.run([str(build / "Vgating_tb")], capture_output=True, text=True,
                         cwd=tmp_path, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    rows = re.findall(r"pair (\d+) bad (\d+) first (-?\d+) fired (\d+) skipped (\d+)", run.stdout)
    assert len(rows) == len(UNITS), run.stdout[-3000:]
    print(run.stdout)
    for i, bad, first, fired, skipped in (map(int, row) for row in rows):
        module, spec, _ = UNITS[i]
        where = f"pair {i}: {module} {spec}"
        assert bad == 0, f"{where}: the gated copy differs from cycle {first} ({bad} cycles)"
        assert fired > 10, f"{where}: only {fired} output words; the stimulus tests nothing"
        assert skipped >= 100, f"{where}: gated off {skipped} edges only"

