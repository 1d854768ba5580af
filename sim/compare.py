"""Layer-by-layer comparison of two backends' integer codes.

A mismatch at the output is not enough to act on: this names the first node (in graph
order) whose output differs, the first sample where it does, and a small diff of codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx


@dataclass(frozen=True)
class LayerDiff:
    tensor: str
    node: str
    elements: int
    mismatching: int
    samples_affected: int


@dataclass(frozen=True)
class Divergence:
    tensor: str
    node: str
    sample: int
    positions: list[tuple[int, ...]]
    expected: list[int]
    got: list[int]

    def describe(self, expected_name: str, got_name: str) -> str:
        rows = [
            f"first divergence: node '{self.node}' (tensor '{self.tensor}'), sample {self.sample}"
        ]
        for pos, e, g in zip(self.positions, self.expected, self.got, strict=True):
            rows.append(f"  at {pos}: {expected_name}={e}  {got_name}={g}  diff={g - e:+d}")
        return "\n".join(rows)


@dataclass
class Comparison:
    samples: int
    mismatches: int  # samples whose final output codes differ anywhere
    layers: list[LayerDiff] = field(default_factory=list)
    first: Divergence | None = None

    def as_metrics(self) -> dict[str, int]:
        return {"samples": self.samples, "mismatches": self.mismatches}


def tensors_in_order(model: onnx.ModelProto) -> list[tuple[str, str]]:
    """``(tensor, producing node)`` for every node output, in graph order."""
    return [(out, node.name or node.op_type) for node in model.graph.node for out in node.output]


def _sample_mismatch(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a != b).reshape(len(a), -1).any(axis=1)


def _divergence(tensor: str, node: str, ref: np.ndarray, got: np.ndarray, limit: int = 5):
    sample = int(np.flatnonzero(_sample_mismatch(ref, got))[0])
    where = np.argwhere(ref[sample] != got[sample])[:limit]
    positions = [tuple(int(i) for i in p) for p in where]
    return Divergence(
        tensor=tensor,
        node=node,
        sample=sample,
        positions=positions,
        expected=[int(ref[sample][p]) for p in positions],
        got=[int(got[sample][p]) for p in positions],
    )


def compare(
    model: onnx.ModelProto, expected: dict[str, np.ndarray], got: dict[str, np.ndarray]
) -> Comparison:
    """Compare every tensor both backends produced; codes must be equal, not close."""
    output = model.graph.output[0].name
    if output not in expected or output not in got:
        raise KeyError(f"both backends must produce the model output '{output}'")
    ref_out, got_out = np.asarray(expected[output]), np.asarray(got[output])
    if ref_out.shape != got_out.shape:
        raise ValueError(f"output shapes differ: {ref_out.shape} vs {got_out.shape}")
    result = Comparison(
        samples=len(ref_out), mismatches=int(_sample_mismatch(ref_out, got_out).sum())
    )
    for tensor, node in tensors_in_order(model):
        if tensor not in expected or tensor not in got:
            continue
        ref, other = np.asarray(expected[tensor]), np.asarray(got[tensor])
        if ref.shape != other.shape:
            raise ValueError(f"tensor '{tensor}' shapes differ: {ref.shape} vs {other.shape}")
        bad = ref != other
        diff = LayerDiff(
            tensor=tensor,
            node=node,
            elements=int(bad.size),
            mismatching=int(bad.sum()),
            samples_affected=int(_sample_mismatch(ref, other).sum()),
        )
        result.layers.append(diff)
        if diff.mismatching and result.first is None:
            result.first = _divergence(tensor, node, ref, other)
    return result


def format_table(comparison: Comparison) -> str:
    rows = [f"{'node':28s} {'tensor':28s} {'elements':>10s} {'mismatching':>12s} {'samples':>8s}"]
    for d in comparison.layers:
        rows.append(
            f"{d.node:28s} {d.tensor:28s} {d.elements:10d} {d.mismatching:12d} "
            f"{d.samples_affected:8d}"
        )
    return "\n".join(rows)
