"""Long mode of the differential fuzzer (tests/fuzz.py; CI runs tests/test_fuzz.py).

    python bench/fuzz.py [--networks 125000] [--rtl 2000] [--hls 2000] [--seed 1]
                         [--minutes 60]

``--networks`` random networks (``fuzz.IMAGES`` images each, so 125,000 networks are
1,000,000 network-image cases) through the reference, qonnx and onnxruntime, about 4 % of
them outside the contract (each must be refused by name); ``--rtl`` cases per simulator
(Verilator and Icarus: structures compiled once, parameter sets redrawn, codes and
per-image cycles against the model); ``--hls`` cases per hls4ml io type (structures
compiled once, weight files swapped, as for the RTL).
Stops at the first mismatch and prints the shrunk network; ``--minutes`` caps each stage's
wall time, and the summary says how far each got. Prints one table (markdown) to paste
into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import fuzz  # noqa: E402


def _stage(name: str, cases, run, deadline: float) -> dict:
    start, done, refused = time.perf_counter(), 0, 0
    for case in cases:
        if time.perf_counter() > deadline:
            break
        try:
            refused += run(case)
        except fuzz.Mismatch as exc:
            print(f"MISMATCH in {name}: {exc}\n{fuzz.describe(case)}", file=sys.stderr)
            raise SystemExit(1) from exc
        done += 1
    return {"stage": name, "cases": done, "refused": refused,
            "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip


def _software(workdir: Path):
    def run(case: fuzz.Case) -> int:
        fuzz.check_case(case, ("qonnx", "onnxruntime"), workdir)
        return int(case.violation is not None)

    return run


def _backend(backend: str, workdir: Path):
    def run(case: fuzz.Case) -> int:
        expected = fuzz.expected_outcome(case)
        if expected is None:  # outside the contract: refused by the load check, by name
            return 1
        got = fuzz.run_one(backend, case, workdir)
        if got is None:
            return 1
        fuzz.compare(backend, expected, got)
        return 0

    return run


def _families(seed: int, variants: int):
    rng = np.random.default_rng(seed)
    base_seed = seed
    while True:
        for base in fuzz.random_cases(base_seed, 100, allow_violations=False):
            for _ in range(variants):
                yield fuzz.revalued(base, rng)
        base_seed += 1000


def _networks(seed: int, count: int):
    import random

    rng = random.Random(seed)
    for _ in range(count):
        yield fuzz.draw_case(fuzz.Draws(rng=rng))


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--networks", type=int, default=125_000)
    p.add_argument("--rtl", type=int, default=2000)
    p.add_argument("--hls", type=int, default=2000)
    p.add_argument("--variants", type=int, default=20, help="parameter sets per structure")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--minutes", type=float, default=60.0, help="wall-time cap per stage")
    args = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="adderflow-fuzz-"))
    cap = args.minutes * 60
    rows = []
    stages = [
        ("reference+qonnx+onnxruntime", _networks(args.seed, args.networks), _software(work),
         args.networks),
        ("icarus", _families(args.seed + 1, args.variants), _backend("icarus", work), args.rtl),
        ("verilator", _families(args.seed + 2, args.variants), _backend("verilator", work),
         args.rtl),
        ("hls4ml io_parallel", _families(args.seed + 3, args.variants),
         _backend("hls_parallel", work), args.hls),
        ("hls4ml io_stream", _families(args.seed + 4, args.variants),
         _backend("hls_stream", work), args.hls),
    ]  # fmt: skip
    for name, cases, run, count in stages:
        if count <= 0:
            continue
        limited = (case for _, case in zip(range(count), cases, strict=False))
        row = _stage(name, limited, run, time.perf_counter() + cap)
        rows.append(row)
        print(row, flush=True)
    print("\n| stage | networks | network-image cases | refused by name | mismatches | seconds |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        images = row["cases"] * fuzz.IMAGES
        print(f"| {row['stage']} | {row['cases']:,} | {images:,} | {row['refused']:,} | 0 | "
              f"{row['seconds']} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
