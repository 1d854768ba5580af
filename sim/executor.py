"""Run an adderflow QONNX model: the reference executor, and qonnx's own execution.

``run_reference`` is the oracle: a plain walk over the nodes in order, adderflow ops
through their ``execute_node`` (the NumPy reference), the few standard ops of the input
stage in NumPy. ``run_qonnx`` hands the same model to ``qonnx.core.onnx_exec``.
Both return every tensor by name so backends can be compared layer by layer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from qonnx.custom_op.general.quant import quant

from adderflow.errors import ModelFormatError
from adderflow.sim.onnx_io import node_attr, read_onnx
from adderflow.sim.ops import DOMAIN, OPS

QONNX_DOMAIN = "qonnx.custom_op.general"


def load_model(path: str | Path) -> onnx.ModelProto:
    """An adderflow model the reference can run, with one clear error when it cannot."""
    model = read_onnx(path)
    check_supported(model)
    return model


def check_supported(model: onnx.ModelProto) -> None:
    for node in model.graph.node:
        if node.domain == DOMAIN and node.op_type not in OPS:
            raise ModelFormatError(
                f"node '{node.name}': unknown adderflow op '{node.op_type}' "
                f"(known: {', '.join(sorted(OPS))})"
            )
        if node.domain not in (DOMAIN, QONNX_DOMAIN, "", "ai.onnx") or (
            node.domain != DOMAIN and node.op_type not in _STANDARD
        ):
            raise ModelFormatError(
                f"node '{node.name}': op '{node.domain or 'ai.onnx'}.{node.op_type}' is not "
                "supported by the integer reference"
            )


def _quant(node, ins):
    x, scale, zeropt, bits = ins
    return quant(
        x,
        scale,
        zeropt,
        bits,
        node_attr(node, "signed"),
        node_attr(node, "narrow"),
        node_attr(node, "rounding_mode"),
    )


def _cast(node, ins):
    return ins[0].astype(onnx.helper.tensor_dtype_to_np_dtype(node_attr(node, "to")))


def _flatten(node, ins):
    axis = node_attr(node, "axis")
    return ins[0].reshape(int(np.prod(ins[0].shape[:axis])), -1)


_STANDARD = {
    "Quant": _quant,
    "Mul": lambda node, ins: ins[0] * ins[1],
    "Cast": _cast,
    "Flatten": _flatten,
}


def run_reference(model: onnx.ModelProto, image: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor of ``model`` on ``image`` (any batch size), computed by the reference."""
    graph = model.graph
    context = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    context[graph.input[0].name] = np.asarray(image, dtype=np.float32)
    for node in graph.node:
        if node.domain == DOMAIN:
            OPS[node.op_type](node).execute_node(context, graph)
            continue
        ins = [context[name] for name in node.input]
        context[node.output[0]] = _STANDARD[node.op_type](node, ins)
    return context


def run_qonnx(model: onnx.ModelProto, image: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor of ``model`` computed by qonnx's graph execution (batch from ``image``)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    wrapper = ModelWrapper(with_batch_size(model, len(image)))
    name = wrapper.graph.input[0].name
    return execute_onnx(wrapper, {name: np.asarray(image, np.float32)}, True)


def with_batch_size(model: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    """A copy of ``model`` whose inputs, outputs and intermediate tensors have ``batch`` rows."""
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    constants = {t.name for t in graph.initializer}
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        if vi.name not in constants:
            vi.type.tensor_type.shape.dim[0].dim_value = batch
    return copy


def output_name(model: onnx.ModelProto) -> str:
    return model.graph.output[0].name
