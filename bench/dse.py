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

from adderflow.hw.network import (  # noqa: E402
    explore,  # noqa: E402
    generate,
    read_layers,
)
from adderflow.hw.network.explore import Point, pareto_front, stream_interval  # noqa: E402


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


def point_row(point, clock: float, layers, graph=None) -> dict:
    """A front point: a line's ``Point`` (``layers``: its layers) or a graph's
    ``GraphPoint`` (``layers`` None: lanes per stream class, named by its producer)."""
    e = point.estimate.rounded()
    row = {
        "interval": point.interval,
        "images_per_second": round(point.images_per_second(clock), 1),
        "luts": e["luts"], "ffs": e["ffs"], "brams": e["brams"], "dsps": e["dsps"],
        "lutram": e["lutram"],
    }  # fmt: skip
    if layers is None:
        lanes = {"input" if k is None else k[0]: v for k, v in point.lanes.items()}
        return {**row, "lanes": explore.graph_lane_count(graph, point), "stream_lanes": lanes}
    folding = {
        ly.name: [pe, simd]
        for ly, pe, simd in zip(layers, point.folding.pe, point.folding.simd, strict=True)
    }
    return {**row, "lanes": point.folding.lanes, "folding": folding}


def confirm(model: onnx.ModelProto, point, work: Path, graph=None) -> dict:
    """yosys on the generated design of one point: LUT sites, FF, BRAM, DSP, LUT RAM (and
    for a graph the estimate with its sized FIFOs, which the search leaves out)."""
    from adderflow.hw.area_estimate import design_estimate
    from adderflow.hw.synth import synth_stats

    where = work / f"p{point.interval}"
    if graph is None:
        design = generate(model, where, fold=lambda _: point.folding)
    else:
        design = generate(model, where, lanes=lambda g: explore.port_lanes(g, point))
    full = design_estimate(design)[0].rounded()
    start = time.perf_counter()
    u = synth_stats(
        design.sources, "af_network", "ecp5", None, False,
        sorted(design.directory.glob("*.hex")), lambda _: None,
    )  # fmt: skip
    return {
        "luts": u.lut_equivalent("ecp5"), "ffs": u.ffs, "brams": u.brams, "dsps": u.dsps,
        "lutram": u.lutram, "seconds": round(time.perf_counter() - start, 1),
        "estimate_with_fifos": full, "cycles_per_image": design.cycles,
    }  # fmt: skip


def error(estimate: float, measured: int) -> str:
    if measured == 0:
        return "0" if round(estimate) == 0 else "—"
    return f"{100.0 * (estimate - measured) / measured:+.1f}%"


def print_front(name: str, rows: list[dict], clock: float) -> None:
    print(f"\n## {name}: Pareto front, {len(rows)} points (images/s at {clock:g} MHz)\n")
    print("| interval (cycles) | images/s | LUT sites est | FF est | BRAM | DSP | LUT RAM | lanes "
          "| PE/SIMD per layer (graph: lanes per stream) |")  # fmt: skip
    print("|" + "---|" * 9)
    for r in rows:
        if "folding" in r:
            fold = " ".join(f"{pe}/{simd}" for pe, simd in r["folding"].values())
        else:  # a graph: lanes of each stream class, named by a producer of the class
            fold = " ".join(f"{name}:{v}" for name, v in r["stream_lanes"].items())
        print(f"| {r['interval']:,} | {r['images_per_second']:,.1f} | {r['luts']:,} | "
              f"{r['ffs']:,} | {r['brams']} | {r['dsps']} | {r['lutram']} | {r['lanes']} | "
              f"{fold} |")  # fmt: skip


def print_confirmed(name: str, rows: list[dict]) -> None:
    print(f"\n## {name}: estimate against yosys synth_ecp5\n")
    print("| bound | stepped | lanes | LUT sites est | LUT sites yosys | LUT error | FF est "
          "| FF yosys | FF error | BRAM est / yosys | DSP est / yosys | yosys s |")  # fmt: skip
    print("|" + "---|" * 12)
    for r in rows:
        y, e = r["yosys"], r["yosys"]["estimate_with_fifos"]  # the whole generated design
        print(f"| {r['interval']:,} | {r['stepped']:,} | {r['lanes']} | {e['luts']:,} | "
              f"{y['luts']:,} | "
              f"{error(e['luts'], y['luts'])} | {e['ffs']:,} | {y['ffs']:,} | "
              f"{error(e['ffs'], y['ffs'])} | {e['brams']} / {y['brams']} | "
              f"{e['dsps']} / {y['dsps']} | {y['seconds']} |")  # fmt: skip


def explore_run(run_dir: Path, args: argparse.Namespace, work: Path) -> dict:
    from adderflow.rtl_flow import design_clock_mhz
    from adderflow.runs import reopen_run

    run = reopen_run(run_dir)
    model = onnx.load(str(run.paths.model))
    if args.mac:
        model = twin(model)
    clock = args.clock_mhz or design_clock_mhz(run)
    layers, graph = read_network(model)
    start = time.perf_counter()
    front = pareto_front(layers) if graph is None else explore.graph_front(graph)
    seconds = time.perf_counter() - start
    rows = [point_row(p, clock, layers, graph) for p in front]
    name = f"{run_dir.name} ({run.cfg.model.arch}, {'mac twin' if args.mac else 'adder'})"
    print_front(name, rows, clock)
    size = len(layers) if graph is None else len(graph.stages)
    print(f"\nsearch: {seconds:.2f} s for {size} {'layers' if graph is None else 'stages'}")
    confirmed = []
    for point in spread(front, args.confirm, args.confirm_below):
        row = point_row(point, clock, layers, graph)
        print(f"[dse] yosys on the {point.interval}-cycle point ({row['lanes']} lanes)",
              flush=True)  # fmt: skip
        row["yosys"] = confirm(model, point, work, graph)
        row["stepped"] = (
            stream_interval(layers, point.folding)
            if graph is None
            else explore.graph_stream_interval(graph, point.lanes)
        )
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


def read_network(model: onnx.ModelProto):
    """``(layers, None)`` for a line of layers, ``(None, graph)`` (with its forks) for a
    network with forks and joins."""
    try:
        from adderflow.hw.network import graph as graphs
        from adderflow.hw.network.read import read_graph
    except ImportError:  # a checkout before the graph reader
        return read_layers(model)[0], None
    graph = read_graph(model)
    if graph.is_line:
        return read_layers(model)[0], None
    return None, graphs.with_forks(graph)


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
