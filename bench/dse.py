"""LUT-against-images/s Pareto front of a network's foldings, a few points confirmed by yosys.

    python bench/dse.py [--run RUN_DIR ...] [--confirm 3] [--confirm-below LUTS]
                        [--clock-mhz 25] [--mac] [--json OUT.json] [--record]

For each run (default: a fresh ``--quick`` digits run), ``adderflow.hw.network.explore``
solves, for every interval a layer can take, the folding with the least estimated LUT
sites (``adderflow.hw.area_estimate``) and keeps the non-dominated ones: the front. It
prints one row per point (interval in cycles, images/s at the clock, estimated LUT sites,
FF, BRAM, DSP, LUT RAM, lanes, PE/SIMD per layer).

``--confirm N`` generates N points spread along the front (both ends included) with
``generate(fold=...)`` and synthesizes each with yosys (``synth_stats``, ``synth_ecp5``,
no place and route: minutes each on a busy machine), printing yosys' LUT sites and FF next
to the estimate with its error. ``--mac``: the multiply twin of the network instead (as
``bench/area.py``). ``--record`` writes the front and the confirmed points into the run's
``metrics.json`` (``dse``), which ``adderflow report`` plots. The clock (default: the
run's ``synth.clock_mhz``, or its target board's oscillator) only scales images/s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import onnx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from area import twin  # noqa: E402
from rtl_network import quick_run  # noqa: E402

from adderflow.hw.network import generate, read_layers  # noqa: E402
from adderflow.hw.network.explore import Point, pareto_front  # noqa: E402


def spread(front: list[Point], count: int, below: float = 0.0) -> list[Point]:
    """``count`` points evenly spaced along the front by index, both ends included; with
    ``below`` > 0 only among points estimated under that many LUT sites (a 60k-LUT design
    takes yosys most of an hour on a shared 2-core machine)."""
    front = [p for p in front if not below or p.luts < below]
    if count <= 0 or not front:
        return []
    if count == 1:
        return [front[-1]]
    picks = sorted({round(i * (len(front) - 1) / (count - 1)) for i in range(count)})
    return [front[i] for i in picks]


def point_row(point: Point, clock: float, layers) -> dict:
    e = point.estimate.rounded()
    return {
        "interval": point.interval,
        "images_per_second": round(point.images_per_second(clock), 1),
        "luts": e["luts"], "ffs": e["ffs"], "brams": e["brams"], "dsps": e["dsps"],
        "lutram": e["lutram"], "lanes": point.folding.lanes,
        "folding": {
            ly.name: [pe, simd]
            for ly, pe, simd in zip(layers, point.folding.pe, point.folding.simd, strict=True)
        },
    }  # fmt: skip


def confirm(model: onnx.ModelProto, point: Point, work: Path) -> dict:
    """yosys on the generated design of one point: LUT sites, FF, BRAM, DSP, LUT RAM."""
    from adderflow.hw.synth import synth_stats

    design = generate(model, work / f"p{point.interval}", fold=lambda _: point.folding)
    assert design.cycles > 0
    start = time.perf_counter()
    u = synth_stats(
        design.sources, "af_network", "ecp5", None, False,
        sorted(design.directory.glob("*.hex")), lambda _: None,
    )  # fmt: skip
    return {
        "luts": u.lut_equivalent("ecp5"), "ffs": u.ffs, "brams": u.brams, "dsps": u.dsps,
        "lutram": u.lutram, "seconds": round(time.perf_counter() - start, 1),
    }  # fmt: skip


def error(estimate: float, measured: int) -> str:
    if measured == 0:
        return "0" if round(estimate) == 0 else "—"
    return f"{100.0 * (estimate - measured) / measured:+.1f}%"


def print_front(name: str, rows: list[dict], clock: float) -> None:
    print(f"\n## {name}: Pareto front, {len(rows)} points (images/s at {clock:g} MHz)\n")
    print("| interval (cycles) | images/s | LUT sites est | FF est | BRAM | DSP | LUT RAM | lanes "
          "| PE/SIMD per layer |")  # fmt: skip
    print("|" + "---|" * 9)
    for r in rows:
        fold = " ".join(f"{pe}/{simd}" for pe, simd in r["folding"].values())
        print(f"| {r['interval']:,} | {r['images_per_second']:,.1f} | {r['luts']:,} | "
              f"{r['ffs']:,} | {r['brams']} | {r['dsps']} | {r['lutram']} | {r['lanes']} | "
              f"{fold} |")  # fmt: skip


def print_confirmed(name: str, rows: list[dict]) -> None:
    print(f"\n## {name}: estimate against yosys synth_ecp5\n")
    print("| interval | lanes | LUT sites est | LUT sites yosys | LUT error | FF est | FF yosys "
          "| FF error | BRAM est / yosys | DSP est / yosys | yosys s |")  # fmt: skip
    print("|" + "---|" * 11)
    for r in rows:
        y = r["yosys"]
        print(f"| {r['interval']:,} | {r['lanes']} | {r['luts']:,} | {y['luts']:,} | "
              f"{error(r['luts'], y['luts'])} | {r['ffs']:,} | {y['ffs']:,} | "
              f"{error(r['ffs'], y['ffs'])} | {r['brams']} / {y['brams']} | "
              f"{r['dsps']} / {y['dsps']} | {y['seconds']} |")  # fmt: skip


def explore_run(run_dir: Path, args: argparse.Namespace, work: Path) -> dict:
    from adderflow.rtl_flow import design_clock_mhz
    from adderflow.runs import reopen_run

    run = reopen_run(run_dir)
    model = onnx.load(str(run.paths.model))
    if args.mac:
        model = twin(model)
    clock = args.clock_mhz or design_clock_mhz(run)
    layers, _, _ = read_layers(model)
    start = time.perf_counter()
    front = pareto_front(layers)
    seconds = time.perf_counter() - start
    rows = [point_row(p, clock, layers) for p in front]
    name = f"{run_dir.name} ({run.cfg.model.arch}, {'mac twin' if args.mac else 'adder'})"
    print_front(name, rows, clock)
    print(f"\nsearch: {seconds:.2f} s for {len(layers)} layers")
    confirmed = []
    for point in spread(front, args.confirm, args.confirm_below):
        row = point_row(point, clock, layers)
        print(f"[dse] yosys on the {point.interval}-cycle point ({point.folding.lanes} lanes)",
              flush=True)  # fmt: skip
        row["yosys"] = confirm(model, point, work)
        confirmed.append(row)
    if confirmed:
        print_confirmed(name, confirmed)
    result = {
        "network": name, "clock_mhz": clock, "front": rows, "confirmed": confirmed,
        "search_seconds": round(seconds, 3),
        "command": f"python bench/dse.py --run {run_dir} --confirm {args.confirm} "
        f"--confirm-below {args.confirm_below:g} --record",
    }  # fmt: skip
    if args.record:
        run.update_metrics(dse=result)
        print(f"[dse] recorded in {run.paths.metrics}; `adderflow report {run_dir}` plots it")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, action="append", help="run directory (repeatable)")
    parser.add_argument("--confirm", type=int, default=0, help="points to synthesize (yosys)")
    parser.add_argument(
        "--confirm-below", type=float, default=0.0, help="only points under this many LUTs"
    )
    parser.add_argument("--clock-mhz", type=float, default=0.0, help="default: the run's")
    parser.add_argument("--mac", action="store_true", help="the multiply twin instead")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--record", action="store_true", help="into the run's metrics.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="af_dse_") as tmp:
        work = Path(tmp)
        runs = args.run or [quick_run(work)]
        results = [explore_run(r, args, work) for r in runs]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
