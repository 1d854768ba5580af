"""The rtl stage of a run: generate the network's Verilog, simulate it, check it exactly.

``generate_design`` turns the run's QONNX model into ``<run>/rtl`` (adderflow.hw.network);
``verify_rtl`` streams test images through the RTL on Verilator (the compiled C++ harness,
``adderflow.hw.harness``) and/or Icarus and compares
the output codes with the NumPy reference (``equivalence.rtl_<simulator>`` in
``metrics.json``) and every image's measured cycles with the cycle model (``rtl`` in
``metrics.json``). Torch-free.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adderflow.config import rtl_simulators
from adderflow.errors import AdderflowError

if TYPE_CHECKING:
    from adderflow.hw.network import Design
    from adderflow.runs import Run
    from adderflow.sim.compare import Comparison


def generate_design(
    run: Run, target_cycles: int | None = None, window: str = "frame", target_fps: float = 0.0
) -> Design:
    """``target_fps`` > 0: the folding with the least estimated area whose steady-state
    interval gives that many images a second at ``design_clock_mhz(run)``
    (``hw.network.explore``), instead of the fewest lanes within ``target_cycles``."""
    from adderflow.hw.network import generate
    from adderflow.sim.executor import load_model

    if not run.paths.model.is_file():
        raise AdderflowError(f"{run.paths.model} not found: export the run first")
    target = target_cycles if target_cycles is not None else run.cfg.rtl.target_cycles
    fold = lanes = None
    chosen: dict[str, Any] = {}
    if target_fps:
        fold, lanes, chosen = _fps_folder(run, target_fps, window)
    model = load_model(run.paths.model)
    design = generate(model, run.paths.rtl, target or None, window, fold, lanes)
    summary = design_summary(design)
    if chosen:
        summary["target_fps"] = chosen
    # A new design invalidates earlier simulation figures.
    run.update_metrics(rtl={"design": summary, "simulation": {}})
    run.log(
        f"[rtl] wrote {design.directory}: {len(design.layers)} layers, {design.window} "
        f"windows, {design.cycles} cycles per image (model)"
    )
    for stage in design.stages:
        if stage["kind"] == "fifo":
            run.log(f"[rtl] {stage['why']}")
    return design


# Interval bounds up to which `--target-fps` also steps the handshake model (4 images).
STEP_LIMIT = 200_000


def design_clock_mhz(run: Run) -> float:
    """The clock images per second are counted at: ``synth.clock_mhz``, or the synthesis
    target's board oscillator when that is 0 (the clock the bitstream runs at)."""
    from adderflow.hw.synth import target

    return run.cfg.synth.clock_mhz or target(run.cfg.synth.target).osc_mhz


def _fps_folder(run: Run, fps: float, window: str):
    """``generate``'s ``fold`` (a line of layers) and ``lanes`` (a graph) choosers picking
    the least-area folding for ``fps``, and the dict they fill with what they chose
    (recorded in metrics.json as ``rtl.design.target_fps``)."""
    from adderflow.errors import ConfigError
    from adderflow.hw.network import explore
    from adderflow.hw.network.explore import cheapest_folding, interval_for_fps, stream_interval

    if window != "frame":
        raise ConfigError(
            "--target-fps searches with the area estimate, which has no calibration for "
            "line windows (af_linewin); use --window frame or --target-cycles"
        )
    clock = design_clock_mhz(run)
    interval = interval_for_fps(fps, clock)
    chosen: dict[str, Any] = {}

    def fold(layers):
        point = cheapest_folding(layers, interval)
        # The handshake model's own interval, where stepping four images is quick.
        stepped = (
            stream_interval(layers, point.folding) if point.interval <= STEP_LIMIT else None
        )
        record(point, stepped)
        return point.folding

    def lanes(graph):
        if interval <= STEP_LIMIT // explore.STREAM_IMAGES:
            point, stepped = explore.stepped_lanes(graph, interval)
        else:  # too long to step: the bound alone
            point, stepped = explore.cheapest_lanes(graph, interval), None
        record(point, stepped)
        return explore.port_lanes(graph, point)

    def record(point, stepped) -> None:
        chosen.update(
            fps=fps,
            clock_mhz=clock,
            max_interval=interval,
            interval_bound=point.interval,
            interval_stepped=stepped,
            images_per_second=round(clock * 1e6 / (stepped or point.interval), 1),
            estimate=point.estimate.rounded(),
        )

    return fold, lanes, chosen


def design_summary(design: Design) -> dict[str, Any]:
    return {
        "cycles_per_image": design.cycles,
        "window": design.window,
        "buffer_codes": design.buffer_codes,
        "layers": design.layers,
        "lanes": sum(layer["pe"] * layer["simd"] for layer in design.layers),
        "bottleneck": max(design.layers, key=lambda layer: layer["mvu_cycles"])["name"],
        "fifos": [
            {k: stage[k] for k in ("name", "depth", "why")}
            for stage in design.stages
            if stage["kind"] == "fifo"
        ],
    }


def load_or_generate(run: Run) -> Design:
    from adderflow.hw.network import Design

    if (run.paths.rtl / "design.json").is_file():
        return Design.load(run.paths.rtl)
    return generate_design(run)


def verify_rtl(
    run: Run, simulators: list[str], samples: int | None = None
) -> dict[str, Comparison]:
    """Simulate ``samples`` test images (0: all) and record exactness and cycles."""
    from adderflow.hw import harness
    from adderflow.hw.simulate import check_design_files, run_network
    from adderflow.sim.compare import compare
    from adderflow.sim.executor import load_model, output_name, run_reference

    model = load_model(run.paths.model)
    design = load_or_generate(run)
    check_design_files(design)
    count = run.cfg.rtl.samples if samples is None else samples
    x = run.data.test_x[: count or None]
    reference = run_reference(model, x)
    results, timing = {}, {}
    for simulator in simulators:
        run.log(f"[rtl] simulating {len(x)} images on {simulator}")
        if simulator == "verilator":  # the compiled C++ harness: the fast path, same checks
            sim, _ = harness.run(design, reference["input_codes"])
        else:
            sim = run_network(design, reference["input_codes"], simulator)
        results[f"rtl_{simulator}"] = compare(model, reference, {output_name(model): sim.codes})
        wrong = sorted({c for c in sim.latencies if c != design.cycles})
        timing[simulator] = {
            "images": len(x),
            "cycles_measured": sorted(set(sim.latencies)),
            "cycles_model": design.cycles,
            "cycles_per_second": round(sim.cycles_per_second),
        }
        if wrong:
            raise AdderflowError(
                f"RTL cycles per image {wrong} on {simulator} differ from the cycle model's "
                f"{design.cycles}"
            )
    simulated = run.metrics().get("rtl", {}).get("simulation", {})
    run.update_metrics(
        equivalence={k: c.as_metrics() for k, c in results.items()},
        rtl={"design": design_summary(design), "simulation": {**simulated, **timing}},
    )
    for name, comparison in results.items():
        run.log(f"[rtl] {name}: {comparison.mismatches} mismatching of {comparison.samples}")
        if comparison.first is not None:
            run.log(comparison.first.describe("reference", name))
    return results


def stage_rtl(run: Run) -> None:
    if not run.cfg.rtl.enabled:
        run.log("[rtl] skipped (rtl.enabled=false)")
        return
    generate_design(run)
    if any(c.first is not None for c in verify_rtl(run, rtl_simulators(run.cfg)).values()):
        raise AdderflowError("RTL verification failed: see the divergence above")
