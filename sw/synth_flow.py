"""The synth stage: the run's network through yosys and nextpnr into a bitstream
(``RUN/fpga``), or a Vivado batch project (``RUN/vivado``). Torch-free.

``adderflow run`` starts the tools early, in the background (``adderflow.early_synth``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from adderflow.config import validate_synth
from adderflow.errors import AdderflowError
from adderflow.runs import Run


def synth_design(run: Run, target_cycles: int | None = None):
    """The design to synthesize: the RTL stage's (target 0), or one folded for synthesis.

    A synthesis folding is generated into ``<run>/fpga/rtl``; the generator's foldings
    are verified by the RTL tests, but this run simulated only ``<run>/rtl``.
    """
    from adderflow.hw.network import generate
    from adderflow.rtl_flow import load_or_generate
    from adderflow.sim.executor import load_model

    cycles = run.cfg.synth.target_cycles if target_cycles is None else target_cycles
    if not cycles:
        return load_or_generate(run), True
    if not run.paths.model.is_file():
        raise AdderflowError(f"{run.paths.model} not found: export the run first")
    design = generate(load_model(run.paths.model), run.paths.fpga_rtl, cycles)
    run.log(f"[synth] folded for synthesis (target {cycles} cycles): {design.directory}")
    return design, False


def synth_settings(
    run: Run,
    target: str | None = None,
    clock_mhz: float | None = None,
    target_cycles: int | None = None,
):
    """The run's ``synth`` config with the given values in place of its own, validated."""
    cfg = run.cfg.synth
    settings = type(cfg)(
        cfg.enabled,
        cfg.target if target is None else target,
        cfg.clock_mhz if clock_mhz is None else clock_mhz,
        cfg.target_cycles if target_cycles is None else target_cycles,
    )
    validate_synth(settings)
    return settings


def record_synthesis(run: Run, fpga: dict, design, simulated: bool, settings) -> dict:
    """``metrics["fpga"]``: the synthesis summary with the design's folding."""
    fpga.update(
        bitstream=str(run.paths.fpga.relative_to(run.out) / fpga["bitstream"]),
        lanes=sum(layer["pe"] * layer["simd"] for layer in design.layers),
        cycles_per_image=design.cycles,
        design_simulated=simulated,
        command=f"adderflow synth {run.out} --target {settings.target}"
        f" --clock-mhz {settings.clock_mhz:g} --target-cycles {settings.target_cycles}",
    )
    run.update_metrics(fpga=fpga)
    return fpga


def synthesize_run(
    run: Run,
    target: str | None = None,
    clock_mhz: float | None = None,
    target_cycles: int | None = None,
) -> dict[str, Any]:
    """Bitstream and utilization of the run's network; records ``metrics["fpga"]``."""
    from adderflow.hw.synth import synthesize

    settings = synth_settings(run, target, clock_mhz, target_cycles)
    design, simulated = synth_design(run, settings.target_cycles)
    fpga = synthesize(design, run.paths.fpga, settings.target, settings.clock_mhz, run.log)
    return record_synthesis(run, fpga, design, simulated, settings)


def vivado_project(run: Run, part: str, clock_mhz: float, target_cycles: int | None) -> Path:
    """``RUN/vivado``: an out-of-context batch project for ``part``; its Tcl script."""
    from adderflow.hw.synth import emit_vivado

    design, _ = synth_design(run, target_cycles)
    return emit_vivado(design, run.paths.vivado, part, clock_mhz)


def stage_synth(run: Run) -> None:
    if not run.cfg.synth.enabled:
        run.log("[synth] skipped (synth.enabled=false)")
        return
    synthesize_run(run)
