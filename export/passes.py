"""Graph passes over the IR, one concern each, and a debug mode that checks every one.

A pass is ``apply(model) -> model``. ``run_passes`` composes them into a flow; given a
debug sample it executes the model before the flow and after every pass (qonnx graph
execution: custom ops through the NumPy reference, standard nodes through onnxruntime)
and stops at the first pass that changed any named tensor's integer codes, naming the
pass, the tensor and the first differing element. Lowering drift (a rewrite that is
"almost" exact) is then caught where it happens instead of at the end of the flow.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import onnx

from adderflow.errors import AdderflowError


class PassDriftError(AdderflowError):
    """A graph pass changed the integer codes the model computes."""


@dataclass(frozen=True)
class GraphPass:
    name: str
    apply: Callable[[onnx.ModelProto], onnx.ModelProto]

    def __call__(self, model: onnx.ModelProto) -> onnx.ModelProto:
        return self.apply(model)


def lower_pass(*ops: str) -> GraphPass:
    """Lower the custom ops ``ops`` (and nothing else) to standard ONNX subgraphs."""
    from adderflow.export.lower_standard import lower_ops

    return GraphPass(f"lower {'+'.join(ops)}", lambda model: lower_ops(model, ops))


def standard_flow() -> list[GraphPass]:
    """The standard-ONNX lowering, one op family per pass (what onnxruntime users get)."""
    from adderflow.export.lower_standard import LOWERABLE

    return [lower_pass(op) for op in LOWERABLE]


def _codes(model: onnx.ModelProto, x: np.ndarray) -> dict[str, np.ndarray]:
    from adderflow.sim.executor import run_qonnx

    names = {vi.name for vi in [*model.graph.value_info, *model.graph.output]}
    return {k: np.asarray(v) for k, v in run_qonnx(model, x).items() if k in names}


def _drift(before: dict[str, np.ndarray], after: dict[str, np.ndarray]) -> str | None:
    """The first tensor present in both whose values differ, described; None if equal."""
    for name, old in before.items():
        if name not in after:
            continue
        new = after[name]
        if old.shape != new.shape:
            return f"tensor '{name}' changed shape {old.shape} → {new.shape}"
        differ = np.argwhere(old != new)
        if len(differ):
            index = tuple(int(i) for i in differ[0])
            return (
                f"tensor '{name}': {len(differ)} of {old.size} codes differ, first at "
                f"{list(index)}: {old[index]} before, {new[index]} after"
            )
    return None


def run_passes(
    model: onnx.ModelProto,
    passes: Sequence[GraphPass],
    debug_x: np.ndarray | None = None,
    log: Callable[[str], None] | None = None,
) -> onnx.ModelProto:
    """Apply ``passes`` in order; with ``debug_x``, check integer equality after each."""
    before = _codes(model, debug_x) if debug_x is not None else None
    for graph_pass in passes:
        model = graph_pass(model)
        if before is None:
            continue
        after = _codes(model, debug_x)
        drift = _drift(before, after)
        if drift is not None:
            raise PassDriftError(f"graph pass '{graph_pass.name}' changed the model: {drift}")
        if log is not None:
            log(f"[passes] {graph_pass.name}: {len(before)} tensors unchanged")
    return model
