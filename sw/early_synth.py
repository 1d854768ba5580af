"""The main job's synthesis, started as soon as the model is verified.

yosys and nextpnr are single-threaded and need only the exported model, so ``adderflow run``
starts them in a background thread when the RTL stage begins and lets them work while the
RTL simulation and the hls4ml C-simulation use the other core; the ``synth`` stage then
waits for the bitstream and records it. ``metrics.json``'s ``seconds.synth`` is that wait,
so the stages' seconds still add up to the run's wall time.

Only a synthesis folding of its own (``synth.target_cycles`` > 0, the default, generated
into ``RUN/fpga/rtl``) starts early: with 0 it synthesizes ``RUN/rtl``, which the RTL stage
is still writing. If a later stage fails, the tools are stopped before the error is shown.
"""

from __future__ import annotations

import threading
from typing import Any

from adderflow.progress import STATUS


class EarlySynth:
    """One synthesis in a background thread; ``finish`` joins it and records the result."""

    def __init__(self, run) -> None:
        from adderflow.synth_flow import synth_design, synth_settings

        self.run = run
        self.settings = synth_settings(run)
        self.design, self.simulated = synth_design(run, self.settings.target_cycles)
        self.result: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="synth", daemon=True)
        run.log("[synth] started early: yosys and nextpnr run while the RTL and hls checks do")
        self.thread.start()

    def _work(self) -> None:
        from adderflow.hw.synth import synthesize

        s = self.settings
        try:
            with STATUS.background("synth"):
                self.result = synthesize(
                    self.design, self.run.paths.fpga, s.target, s.clock_mhz, self.run.log
                )
        except BaseException as exc:  # re-raised by finish(), in the main thread
            self.error = exc

    def finish(self) -> dict[str, Any]:
        """Wait for the bitstream (the ``synth`` stage) and record ``metrics["fpga"]``."""
        from adderflow.synth_flow import record_synthesis

        STATUS.step("waiting for yosys and nextpnr (started with the RTL stage)")
        self.thread.join()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return record_synthesis(self.run, self.result, self.design, self.simulated, self.settings)

    def cancel(self) -> None:
        """Stop the tools (a later stage failed or was interrupted) and wait for the thread."""
        from adderflow.hw.synth import allow_tools, stop_tools

        stop_tools()
        self.thread.join()
        allow_tools()


def start_early(run, flow_stages: list[str]) -> EarlySynth | None:
    """An early synthesis for this flow and config, or None where it must wait its turn."""
    cfg = run.cfg.synth
    if "synth" not in flow_stages or not cfg.enabled or not cfg.target_cycles:
        return None
    if not run.paths.model.is_file():
        return None  # the synth stage itself names the missing model
    return EarlySynth(run)
