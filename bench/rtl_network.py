"""Whole-network RTL simulation speed: compiled benches against Python-per-cycle cocotb.

    python bench/rtl_network.py [--run RUN_DIR] [--icarus-images 4] [--cocotb-images 2]

Generates the run's network (``adderflow rtl``), then in one run measures, on the same
design: the compiled Verilator bench over the whole test split (serial: one image in
flight, as the cycle model counts; and streaming, images back to back), the Icarus
bench on a sample, and cocotb driving Verilator cycle by cycle from Python (the baseline
the issue quotes at ~15 k cycles/s) on a sample. Every run's output codes are checked
against the NumPy reference. Prints a table with cycles/s and the ratio to cocotb, and
the wall time of the full split (build included). Without ``--run`` it trains a
``--quick`` run in a temporary directory first.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def quick_run(directory: Path) -> Path:
    out = directory / "quick"
    cmd = [
        sys.executable,
        "-m",
        "adderflow.cli",
        "run",
        "--quick",
        "--out",
        str(out),
        "--set",
        "rtl.enabled=false",
    ]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def cocotb_cycles_per_second(design, codes, expected, work: Path) -> tuple[int, float]:
    """Python-per-cycle baseline: the cocotb protocol bench at full rate, build excluded."""
    sys.path.insert(0, str(ROOT / "tests" / "rtl"))
    from cocotb_tools.runner import get_runner

    from adderflow.hw.simulate import tool_path, verilator_env

    os.environ["PATH"] = f"{tool_path('verilator').parent}{os.pathsep}{os.environ['PATH']}"
    os.environ["MAKEFLAGS"] = verilator_env()["MAKEFLAGS"]

    case = {
        "full_rate": {
            "in_words": design.input_words(codes),
            "expected": expected.reshape(-1, design.out_lanes).tolist(),
            "lanes": design.out_lanes,
            "lane_bits": design.out_bits,
            "p_gap": 0.0,
            "p_stall": 0.0,
            "longest": 1,
            "seed": 0,
            "cycles": None,
        }
    }
    case["pressure"] = case["full_rate"]
    (work / "case.json").write_text(json.dumps(case))
    runner = get_runner("verilator")
    runner.build(
        sources=design.sources,
        hdl_toplevel="af_network",
        build_dir=work / "build",
        timescale=("1ns", "1ps"),
        log_file=work / "build.log",
    )
    start = time.perf_counter()
    runner.test(
        test_module="test_cocotb_network",
        hdl_toplevel="af_network",
        build_dir=work / "build",
        test_dir=design.directory,
        plusargs=[f"+case={work / 'case.json'}"],
        testcase=["stream_full_rate"],
        results_xml=str(work / "results.xml"),
        log_file=work / "sim.log",
    )
    seconds = time.perf_counter() - start
    if 'failures="0"' not in (work / "results.xml").read_text():
        raise SystemExit(f"cocotb run failed: see {work / 'sim.log'}")
    # Full rate, serial images: each takes the model's cycles, plus reset and drain.
    return len(codes) * design.cycles, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, help="a run directory (default: a quick run)")
    parser.add_argument("--icarus-images", type=int, default=4)
    parser.add_argument("--cocotb-images", type=int, default=2)
    args = parser.parse_args()

    from adderflow.hw.network import generate
    from adderflow.hw.simulate import run_network
    from adderflow.runs import reopen_run
    from adderflow.sim.executor import load_model, output_name, run_reference

    tmp = Path(tempfile.mkdtemp(prefix="adderflow-bench-rtl-"))
    run_dir = args.run or quick_run(tmp)
    run = reopen_run(run_dir)
    model = load_model(run.paths.model)
    x = run.data.test_x
    reference = run_reference(model, x)
    codes, want = reference["input_codes"], reference[output_name(model)]

    rows = []
    start = time.perf_counter()
    design = generate(model, tmp / "rtl")
    serial = run_network(design, codes, "verilator", serial=True)
    full_split_s = time.perf_counter() - start
    for name, result, n in (("verilator bench, serial", serial, len(x)),):
        rows.append((name, n, result.cycles, result.seconds))
    assert np.array_equal(serial.codes, want), "verilator serial mismatch"
    stream = run_network(design, codes, "verilator", serial=False)
    assert np.array_equal(stream.codes, want), "verilator streaming mismatch"
    rows.append(("verilator bench, streaming", len(x), stream.cycles, stream.seconds))
    n = args.icarus_images
    icarus = run_network(design, codes[:n], "icarus", serial=True)
    assert np.array_equal(icarus.codes, want[:n]), "icarus mismatch"
    rows.append(("icarus bench, serial", n, icarus.cycles, icarus.seconds))
    n = args.cocotb_images
    work = tmp / "cocotb"
    work.mkdir()
    cycles, seconds = cocotb_cycles_per_second(design, codes[:n], want[:n], work)
    rows.append(("cocotb + verilator (baseline)", n, cycles, seconds))

    base = cycles / seconds
    print(
        f"design: {design.cycles} cycles per image (model), "
        f"{sum(ly['pe'] * ly['simd'] for ly in design.layers)} PE lanes"
    )
    print(
        f"{'backend':<32} {'images':>6} {'cycles':>10} {'seconds':>8} {'cycles/s':>11} "
        f"{'vs cocotb':>9}"
    )
    for name, images, cyc, sec in rows:
        print(
            f"{name:<32} {images:>6} {cyc:>10} {sec:>8.2f} {cyc / sec:>11.0f} "
            f"{cyc / sec / base:>8.1f}x"
        )
    print(
        f"full test split ({len(x)} images) through Verilator, generation and build "
        f"included: {full_split_s:.1f} s; cycles per image measured "
        f"{sorted(set(serial.latencies))} = model {design.cycles}"
    )


if __name__ == "__main__":
    main()
