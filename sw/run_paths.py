"""Every path of a run directory, named once.

``RunPaths(root)`` is the one place that knows where a run keeps what: the stages, the
CLI, the reports and the tests ask it instead of joining strings. ``LAYOUT`` is the same
table for people (the README's run-directory listing is checked against it). Torch-free.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

RUN_MARK = ".adderflow-run"
LOCK_FILE = ".adderflow-lock"
CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.qonnx.onnx"
STANDARD_MODEL_FILE = "model.standard.onnx"
NETWORK_FILE = "model.network.npz"
SOURCE_MODEL_FILE = "imported.onnx"
INPUTS_FILE = "inputs.npz"
QAT_CHECKPOINT = "qat"

# (path inside the run, what it holds): the README's run-directory listing, in its order.
LAYOUT: tuple[tuple[str, str], ...] = (
    (CONFIG_FILE, "fully resolved config (every path in it absolute)"),
    ("checkpoints/teacher.pt", "per-epoch checkpoints (+ .csv loss/accuracy curves)"),
    ("checkpoints/student.pt", ""),
    (f"checkpoints/{QAT_CHECKPOINT}.pt", "the QAT fine-tune (quant.mode=qat)"),
    ("checkpoints/tensorboard/", "TensorBoard event files, a folder per training"),
    (MODEL_FILE, "the IR"),
    (STANDARD_MODEL_FILE, "the IR lowered to standard ONNX (onnxruntime, Netron)"),
    (NETWORK_FILE, "the quantized network's integer data (an imported run's network)"),
    (SOURCE_MODEL_FILE, "the model `adderflow import --to-run` read"),
    (INPUTS_FILE, "the seeded random inputs an imported run is checked on (data.name=npz)"),
    ("rtl/", "af_network.v, $readmemh weight files, design.json (adderflow rtl)"),
    ("hls4ml/", "one hls4ml project per io type, with its C-simulation (adderflow hls)"),
    ("fpga/", "bitstream, utilization.json/.txt, the synthesis folding in fpga/rtl/ (synth)"),
    ("vivado/", "a Vivado out-of-context batch project (adderflow synth --vivado)"),
    ("quantized/", "runs derived by `adderflow quantize` (<mode>-<bits>b/)"),
    ("metrics.json", "machine-readable results (schema below)"),
    ("stages.json", "the stages that finished, with their config and outputs (rerun skips them)"),
    ("report.md", "human report"),
    ("report.html", "the same as one self-contained page with plots"),
    ("log.txt", "everything the run printed, a failed stage's error included"),
    (RUN_MARK, "the mark that makes the folder a run adderflow may write into"),
    (LOCK_FILE, "held while a command writes the run (names the holder's PID)"),
)


def curves_of(checkpoint: Path) -> Path:
    """The loss/accuracy CSV the trainer writes beside ``checkpoint``."""
    return checkpoint.with_suffix(".csv")


def tensorboard_of(checkpoint: Path, name: str) -> Path:
    """The TensorBoard event folder of the training ``name`` checkpointed at ``checkpoint``."""
    return checkpoint.parent / "tensorboard" / name


@dataclass(frozen=True)
class RunPaths:
    """The paths of the run directory ``root``."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def mark(self) -> Path:
        return self.root / RUN_MARK

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    def checkpoint(self, role: str) -> Path:
        """``teacher``, ``student`` or ``qat``'s checkpoint."""
        return self.checkpoints / f"{role}.pt"

    def curves(self, role: str) -> Path:
        return curves_of(self.checkpoint(role))

    @property
    def qat_checkpoint(self) -> Path:
        return self.checkpoint(QAT_CHECKPOINT)

    @property
    def model(self) -> Path:
        return self.root / MODEL_FILE

    @property
    def standard_model(self) -> Path:
        return self.root / STANDARD_MODEL_FILE

    @property
    def network(self) -> Path:
        return self.root / NETWORK_FILE

    @property
    def source_model(self) -> Path:
        return self.root / SOURCE_MODEL_FILE

    @property
    def inputs(self) -> Path:
        return self.root / INPUTS_FILE

    @property
    def imported(self) -> bool:
        """Made by ``adderflow import --to-run``: a model file, no student to derive from."""
        return self.source_model.is_file() and not self.checkpoint("student").is_file()

    @property
    def rtl(self) -> Path:
        return self.root / "rtl"

    @property
    def hls4ml(self) -> Path:
        return self.root / "hls4ml"

    def hls_project(self, io_type: str) -> Path:
        return self.hls4ml / io_type

    @property
    def fpga(self) -> Path:
        return self.root / "fpga"

    @property
    def fpga_rtl(self) -> Path:
        """The design folded for synthesis (``synth.target_cycles`` > 0)."""
        return self.fpga / "rtl"

    @property
    def vivado(self) -> Path:
        return self.root / "vivado"

    @property
    def quantized(self) -> Path:
        return self.root / "quantized"

    def derived_run(self, mode: str, bits: int) -> Path:
        """``adderflow quantize``'s default new run."""
        return self.quantized / f"{mode}-{bits}b"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def stages(self) -> Path:
        return self.root / "stages.json"

    @property
    def report_md(self) -> Path:
        return self.root / "report.md"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    @property
    def log(self) -> Path:
        return self.root / "log.txt"
