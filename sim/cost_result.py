"""The cost model's results: one node's counts and energy (``LayerCost``), one view of a
network (``CostResult``) with its totals and per-layer text table."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from adderflow.sim.cost_rules import Ops

KINDS = ("add", "mul", "cmp", "abs", "shift", "xnor", "popcount")
# Columns of the per-layer text table (shift is free and popcount equals xnor per term; both
# still show in its widths column and in ``to_dict``).
TABLE_KINDS = ("add", "mul", "cmp", "abs", "xnor")


def fmt_pj(pj: float) -> str:
    for unit, scale in (("mJ", 1e9), ("µJ", 1e6), ("nJ", 1e3)):
        if abs(pj) >= scale:
            return f"{pj / scale:.2f} {unit}"
    return f"{pj:.2f} pJ"


def _accesses(bits: int) -> int:
    return math.ceil(bits / 64)


@dataclass
class LayerCost:
    """One node's counts per image, by kind and width, and what they cost."""

    node: str
    op_type: str
    ops: Ops = field(default_factory=dict)
    counted_as: str | None = None  # the twin op in the CNN view
    weight_bits: int = 0
    act_read_bits: int = 0
    act_write_bits: int = 0
    arith_pj: float = 0.0
    memory_pj: float = 0.0

    def count(self, kind: str) -> int:
        return sum(self.ops.get(kind, {}).values())

    @property
    def accesses_64b(self) -> int:
        """64-bit memory accesses: each tensor's bits rounded up to whole words."""
        return sum(map(_accesses, (self.weight_bits, self.act_read_bits, self.act_write_bits)))

    @property
    def energy_pj(self) -> float:
        return self.arith_pj + self.memory_pj

    def to_dict(self) -> dict:
        return {
            "node": self.node,
            "op_type": self.op_type,
            "counted_as": self.counted_as,
            **{kind: self.count(kind) for kind in KINDS},
            "ops": {kind: dict(by_width) for kind, by_width in self.ops.items()},
            "weight_bits": self.weight_bits,
            "act_read_bits": self.act_read_bits,
            "act_write_bits": self.act_write_bits,
            "accesses_64b": self.accesses_64b,
            "arith_pj": self.arith_pj,
            "memory_pj": self.memory_pj,
            "energy_pj": self.energy_pj,
        }


@dataclass
class CostResult:
    """Per-layer costs of one view of a network, with totals and what was left out."""

    view: str
    layers: list[LayerCost]
    uncounted: list[str]
    interpolated_widths: list[str]
    precision: str | None
    memory: str
    table: str

    def total(self, kind: str) -> int:
        return sum(layer.count(kind) for layer in self.layers)

    def ops_by_width(self) -> Ops:
        merged: Ops = {}
        for layer in self.layers:
            for kind, by_width in layer.ops.items():
                for width, n in by_width.items():
                    merged.setdefault(kind, {})
                    merged[kind][width] = merged[kind].get(width, 0) + n
        return merged

    @property
    def arith_pj(self) -> float:
        return sum(layer.arith_pj for layer in self.layers)

    @property
    def memory_pj(self) -> float:
        return sum(layer.memory_pj for layer in self.layers)

    @property
    def energy_pj(self) -> float:
        return self.arith_pj + self.memory_pj

    def select(self, op_types: Iterable[str]) -> CostResult:
        """The same result restricted to some op types, e.g. ``MAC_OPS`` (the papers' count)."""
        keep = set(op_types)
        return replace(self, layers=[layer for layer in self.layers if layer.op_type in keep])

    def totals(self) -> dict:
        return {
            **{kind: self.total(kind) for kind in KINDS},
            "ops": self.ops_by_width(),
            "weight_bits": sum(layer.weight_bits for layer in self.layers),
            "act_read_bits": sum(layer.act_read_bits for layer in self.layers),
            "act_write_bits": sum(layer.act_write_bits for layer in self.layers),
            "accesses_64b": sum(layer.accesses_64b for layer in self.layers),
            "arith_pj": self.arith_pj,
            "memory_pj": self.memory_pj,
            "energy_pj": self.energy_pj,
        }

    def to_dict(self) -> dict:
        """The shape ``metrics.json`` stores."""
        return {
            "view": self.view,
            "precision": self.precision,
            "memory": self.memory,
            "table": self.table,
            "layers": [layer.to_dict() for layer in self.layers],
            "total": self.totals(),
            "uncounted": list(self.uncounted),
            "interpolated_widths": list(self.interpolated_widths),
        }

    def format_table(self) -> str:
        head = ("node", "op", *TABLE_KINDS, "widths", "64b acc", "arith", "memory")
        rows = [_layer_row(layer) for layer in self.layers]
        rows.append(_total_row(self))
        text = _grid(head, rows)
        notes = [
            f"view: {self.view}; precision: {self.precision or 'as stored'}; "
            f"memory: {self.memory}; table: {self.table}"
        ]
        notes += [f"interpolated: {label}" for label in self.interpolated_widths]
        notes += [f"NOT COUNTED: {item}" for item in self.uncounted]
        return text + "\n" + "\n".join(notes)


def _widths(ops: Ops) -> str:
    return " ".join(f"{kind}:{'/'.join(sorted(ops[kind]))}" for kind in KINDS if kind in ops)


def _layer_row(layer: LayerCost) -> tuple[str, ...]:
    op = layer.op_type if not layer.counted_as else f"{layer.op_type}→{layer.counted_as}"
    return (
        layer.node,
        op,
        *(f"{layer.count(kind):,}" for kind in TABLE_KINDS),
        _widths(layer.ops),
        f"{layer.accesses_64b:,}",
        fmt_pj(layer.arith_pj),
        fmt_pj(layer.memory_pj),
    )


def _total_row(result: CostResult) -> tuple[str, ...]:
    t = result.totals()
    counts = [f"{t[kind]:,}" for kind in TABLE_KINDS]
    energies = [fmt_pj(t["arith_pj"]), fmt_pj(t["memory_pj"])]
    return ("TOTAL", "", *counts, "", f"{t['accesses_64b']:,}", *energies)


def align(rows: list[tuple[str, ...]], numeric: set[int]) -> list[str]:
    """Rows as text lines, columns padded to their widest cell, numbers right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]


def _grid(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """Per-layer table: header, rule, layer rows, rule, the TOTAL row (the last of ``rows``)."""
    numeric = {*range(2, 2 + len(TABLE_KINDS)), *range(3 + len(TABLE_KINDS), len(head))}
    lines = align([head, *rows], numeric)
    rule = "-" * max(map(len, lines))
    return "\n".join([lines[0], rule, *lines[1:-1], rule, lines[-1]])

