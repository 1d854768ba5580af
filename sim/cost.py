"""Operation and energy counts of an ONNX/QONNX model, per image, read from the IR itself.

Why on the IR: the exported graph is what every backend builds, so its counts are the
hardware's counts (accumulator widths included), and a hardware engineer can cost a model
without PyTorch. The conventions (docs/cost-model.md) follow the AdderNet papers so our
figures compare with theirs:

* a multiplication layer's term is 1 multiplication + 1 addition; an adder layer's term
  ``|x - w|`` accumulated is 2 additions (subtract at operand width, accumulate at the
  accumulator width ``out_bits``) plus 1 absolute value, counted under ``abs`` and costed
  0 pJ (the sign of ``x - w`` picks add or subtract in the accumulator: a carry-in, no
  extra adder). ``K`` products need ``K - 1`` additions; the ``K``-th is the bias or
  initial value, so bias is not counted separately.
* a requantization: 1 mul + 2 adds (bias, rounding) per element, or a free shift + 2 adds
  when every multiplier is a signed power of two. Comparisons (max pooling, ReLU) cost an
  add; a binary layer is XNOR + popcount on bits, a ±1 threshold one comparison per element.
* an op the model does not know is listed in ``uncounted``, never counted as zero.

The model is split by concern: the counting primitives (``cost_rules``), each adderflow op's
rule (its ``cost`` in ``sim.ops``), the views and the walk (``cost_views``), the results and
their tables (``cost_result``); this module is the public face: the twins every report shows
and the ``adderflow energy`` command.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import onnx

from adderflow.errors import AdderflowError
from adderflow.sim.cost_result import (  # noqa: F401  (the public names of the cost model)
    KINDS,
    TABLE_KINDS,
    CostResult,
    LayerCost,
    align,
    fmt_pj,
)
from adderflow.sim.cost_rules import Ops  # noqa: F401
from adderflow.sim.cost_views import (  # noqa: F401
    DEFAULT_MEMORY,
    FREE_OPS,
    MAC_OPS,
    VIEWS,
    as_ann,
    as_bnn,
    as_cnn,
    binarizable,
    estimate,
)
from adderflow.sim.energy import load_energy_table
from adderflow.sim.onnx_io import read_onnx

ENERGIES = ("arith_pj", "memory_pj", "energy_pj")


@dataclass
class Twins:
    """An adder network next to its multiplier twin (and its binary twin where one applies),
    as every cost report shows it."""

    ann: CostResult
    cnn: CostResult
    bnn: CostResult | None = None

    def ratio(self, what: str = "energy_pj", twin: str = "cnn") -> float | None:
        """How many times a twin (``cnn`` or ``bnn``) costs the ANN (``arith_pj``, ...)."""
        other = getattr(self, twin)
        if other is None:
            return None
        a, c = getattr(self.ann, what), getattr(other, what)
        return c / a if a else None

    def to_dict(self) -> dict:
        out = {
            "ann": self.ann.to_dict(),
            "cnn": self.cnn.to_dict(),
            "cnn_over_ann": {w: self.ratio(w) for w in ENERGIES},
        }
        if self.bnn is not None:
            out["bnn"] = self.bnn.to_dict()
            out["bnn_over_ann"] = {w: self.ratio(w, "bnn") for w in ENERGIES}
        return out

    def _views(self) -> list[tuple[str, CostResult]]:
        views = [("ANN (as is)", self.ann), ("CNN twin", self.cnn)]
        return views + ([("BNN twin", self.bnn)] if self.bnn is not None else [])

    def format_table(self) -> str:
        """Totals side by side, then each twin's cost over the ANN's."""
        views = self._views()
        totals = [view.totals() for _, view in views]
        others = [name for name in ("cnn", "bnn") if getattr(self, name) is not None]
        blank = [""] * len(others)
        rows = [(kind, *(f"{t[kind]:,}" for t in totals), *blank) for kind in KINDS]
        rows.append(("64-bit accesses", *(f"{t['accesses_64b']:,}" for t in totals), *blank))
        labels = ("arithmetic", f"memory ({self.ann.memory})", "energy")
        for key, label in zip(ENERGIES, labels, strict=True):
            ratios = (self.ratio(key, name) for name in others)
            energies = (fmt_pj(t[key]) for t in totals)
            rows.append((label, *energies, *(f"{r:.2f}×" if r else "n/a" for r in ratios)))
        head = ("per image", *(name for name, _ in views), *(f"{n.upper()}/ANN" for n in others))
        return "\n".join(align([head, *rows], numeric=set(range(1, len(head)))))


def twins(model: onnx.ModelProto, **options) -> Twins:
    """ANN and CNN twin always; the BNN twin when the network has a layer between its first
    and last (those stay multiplication layers, so a BNN of fewer layers is no BNN)."""
    bnn = as_bnn(model, **options) if binarizable(model) else None
    return Twins(as_ann(model, **options), as_cnn(model, **options), bnn)


# --------------------------------------------------------------------------- CLI


def load_model_file(path: str | Path) -> onnx.ModelProto:
    """Any ONNX file (not only adderflow's), with one clear error for a broken one."""
    return read_onnx(path)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="adderflow energy",
        description="Operation counts and energy per image of an ONNX/QONNX model, next to "
        "its multiplier twin (docs/cost-model.md).",
    )
    p.add_argument("model", type=Path, help="ONNX or QONNX model file")
    p.add_argument("--table", type=Path, help="YAML energy table (default: 45 nm, Horowitz)")
    p.add_argument("--precision", help="treat all arithmetic as this width, e.g. fp32 or int8")
    p.add_argument("--memory", default=DEFAULT_MEMORY, help="memory level priced per access")
    p.add_argument(
        "--view",
        choices=VIEWS,
        default="ann",
        help="whose per-layer table to print: the network as is (ann), its multiplier twin "
        "(cnn) or its binary twin (bnn); the totals always show every view",
    )
    return p


def main(argv: list[str] | None = None, load=load_model_file) -> int:
    """``adderflow energy MODEL.onnx``: per-layer table, then the views' totals side by side.

    ``load`` reads the file; ``adderflow energy`` passes the importer's ``costing_model``,
    so energy and ``adderflow import`` price one model through one path."""
    args = _parser().parse_args(argv)
    try:
        model = load(args.model)
        table = load_energy_table(args.table)
        result = twins(model, table=table, precision=args.precision, memory=args.memory)
    except AdderflowError as exc:
        print(f"adderflow energy: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    per_layer = getattr(result, args.view)
    if per_layer is None:  # no layer between the first and the last
        per_layer = as_bnn(model, table=table, precision=args.precision, memory=args.memory)
    print(per_layer.format_table())
    print()
    print(result.format_table())
    return 0

