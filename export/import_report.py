"""What ``adderflow import`` reports: each quantizer feeding a layer, each accumulating layer
(what it is, where it can go, what it costs), the whole model's table and JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adderflow.sim.cost import CostResult, align, fmt_pj

# What a layer is in hardware, as the report states it (issue #4): XNOR + popcount on bits,
# |x - w| accumulate, or multiply-accumulate.
HARDWARE = ("binary", "adder", "mult")
HARDWARE_WORDS = {
    "binary": "binary (XNOR + popcount)",
    "adder": "adder",
    "mult": "multiplication",
}


@dataclass(frozen=True)
class Quantizer:
    """What one quantizer says about the tensor it feeds a layer with."""

    node: str
    op: str
    bits: int
    signed: bool
    scale: float | None  # the (first) scale; None when computed at run time
    scale_pow2: bool | None  # every scale a power of two; None when computed at run time
    per_channel: bool
    zero_point_zero: bool

    @property
    def binary(self) -> bool:
        """A bipolar quantizer, an adderflow binary layer's ±1 operand (``BIPOLAR``) or a
        qonnx XnorPopcountMatMul's {0, 1} one (``BINARY``)."""
        return self.op in ("BipolarQuant", "BIPOLAR", "BINARY")

    def label(self) -> str:
        """Bits as the table shows them: ``8``, ``u8`` (unsigned), ``bin`` (bipolar)."""
        if self.binary:
            return "bin"
        return f"{'' if self.signed else 'u'}{self.bits}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "op": self.op,
            "bits": self.bits,
            "signed": self.signed,
            "scale": self.scale,
            "scale_pow2": self.scale_pow2,
            "per_channel": self.per_channel,
            "zero_point_zero": self.zero_point_zero,
        }


@dataclass
class ImportedLayer:
    """One accumulating layer: what it is, how it is quantized, where it can go, its cost."""

    name: str
    op: str
    weight_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None  # per image (batch dimension dropped)
    weight: Quantizer | None  # None: float (or an adderflow op's plain integer operand)
    activation: Quantizer | None
    eligible: bool = False
    reasons: list[str] = field(default_factory=list)  # why it cannot take the adder path
    notes: list[str] = field(default_factory=list)
    mults: int = 0
    adds: int = 0
    xnors: int = 0
    energy_pj: float = 0.0
    counted: bool = False  # False when the cost model could not count it
    hardware: str = "mult"  # binary | adder | mult: what the layer computes in hardware as is

    def decision(self) -> str:
        if self.eligible:
            return "yes" + (f" ({'; '.join(self.notes)})" if self.notes else "")
        return "no: " + "; ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "op": self.op,
            "weight_shape": list(self.weight_shape) if self.weight_shape else None,
            "output_shape": list(self.output_shape) if self.output_shape else None,
            "weight": self.weight.to_dict() if self.weight else None,
            "activation": self.activation.to_dict() if self.activation else None,
            "eligible": self.eligible,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "mults": self.mults,
            "adds": self.adds,
            "xnors": self.xnors,
            "energy_pj": self.energy_pj,
            "counted": self.counted,
            "hardware": self.hardware,
        }


@dataclass
class ImportReport:
    """Every accumulating layer of an imported model, and the cost of the whole model."""

    model: str
    layers: list[ImportedLayer]
    cost: CostResult
    keep_first: bool = True
    keep_last: bool = True

    @property
    def eligible(self) -> list[ImportedLayer]:
        return [layer for layer in self.layers if layer.eligible]

    def totals(self) -> dict[str, Any]:
        layer_mults = sum(layer.mults for layer in self.layers)
        eligible_mults = sum(layer.mults for layer in self.eligible)
        return {
            "layers": len(self.layers),
            "eligible_layers": len(self.eligible),
            **{
                f"{kind}_layers": sum(layer.hardware == kind for layer in self.layers)
                for kind in HARDWARE
            },
            "xnors": self.cost.total("xnor"),
            "mults": self.cost.total("mul"),
            "layer_mults": layer_mults,
            "eligible_mults": eligible_mults,
            "energy_pj": self.cost.energy_pj,
            "layer_energy_pj": sum(layer.energy_pj for layer in self.layers),
            "eligible_energy_pj": sum(layer.energy_pj for layer in self.eligible),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "keep_first": self.keep_first,
            "keep_last": self.keep_last,
            "layers": [layer.to_dict() for layer in self.layers],
            "totals": self.totals(),
            "cost": self.cost.to_dict(),
        }

    def format_table(self) -> str:
        head = ("layer", "op", "hardware", "weight", "output", "w bits", "a bits", "pow2")
        head += ("mults", "energy", "adder path")
        rows = [head]
        for layer in self.layers:
            rows.append(
                (
                    layer.name,
                    layer.op,
                    layer.hardware,
                    _dims(layer.weight_shape),
                    _dims(layer.output_shape),
                    layer.weight.label() if layer.weight else "float",
                    layer.activation.label() if layer.activation else "float",
                    _pow2_cell(layer),
                    f"{layer.mults:,}" if layer.counted else "?",
                    fmt_pj(layer.energy_pj) if layer.counted else "?",
                    layer.decision(),
                )
            )
        lines = align(rows, numeric={8, 9})
        rule = "-" * max(len(line) for line in lines)
        t = self.totals()
        share = f" ({t['eligible_mults'] / t['mults']:.0%})" if t["mults"] else ""
        summary = [
            f"model: {self.model}",
            f"in hardware: {t['binary_layers']} binary (XNOR + popcount), {t['adder_layers']} "
            f"adder, {t['mult_layers']} multiplication layers"
            + (f"; XNORs per image: {t['xnors']:,}" if t["xnors"] else ""),
            f"{t['eligible_layers']} of {t['layers']} layers can take the adder path; "
            f"multiplications per image: {t['mults']:,} in the model, {t['layer_mults']:,} in "
            f"its layers, {t['eligible_mults']:,}{share} in layers that can take the adder path",
            f"energy per image: {fmt_pj(t['energy_pj'])} (layers {fmt_pj(t['layer_energy_pj'])}"
            f", eligible layers {fmt_pj(t['eligible_energy_pj'])}); table: {self.cost.table}, "
            f"memory: {self.cost.memory}",
        ]
        summary += [f"NOT COUNTED: {item}" for item in self.cost.uncounted]
        return "\n".join([lines[0], rule, *lines[1:], rule, *summary])


def _dims(shape: tuple[int, ...] | None) -> str:
    return "x".join(map(str, shape)) if shape else "?"


def _pow2_cell(layer: ImportedLayer) -> str:
    quantizers = [q for q in (layer.weight, layer.activation) if q is not None]
    if not quantizers:
        return "-"
    if any(q.scale_pow2 is False for q in quantizers):
        return "no"
    if any(q.scale_pow2 is None for q in quantizers):
        return "run time"
    return "yes"


def write_json(path: str | Path, report: ImportReport) -> Path:
    """Write the report as JSON atomically (a temporary file renamed into place)."""
    from adderflow.atomic import atomic_write_text

    path = Path(path)
    atomic_write_text(path, json.dumps(report.to_dict(), indent=2) + "\n")
    return path
