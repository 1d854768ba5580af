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

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.fixed import check_bits
from adderflow.sim.onnx_io import STANDARD_DOMAINS, node_attr, read_onnx
from adderflow.sim.ops import DOMAIN, OPS, checks, op_class
from adderflow.sim.standard_checks import CHECKS as STANDARD_CHECKS
from adderflow.sim.view import ModelView, Node, read_view

QONNX_DOMAIN = "qonnx.custom_op.general"


def load_model(path: str | Path) -> onnx.ModelProto:
    """An adderflow model the reference can run, with one clear error when it cannot.

    ``read_onnx`` refuses a broken file, a missing initializer and a non-ONNX op;
    ``check_supported`` an op the reference does not run; ``check_contract`` a bit width,
    scale or shift the numeric contract (DESIGN.md) cannot express. Each names the node.
    """
    model = read_onnx(path)
    check_supported(model)
    check_contract(model)
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


def check_contract(model: onnx.ModelProto) -> None:
    """Bit widths, scales and shifts of an adderflow model are ones the contract allows.

    The one load-time check of DESIGN.md's limits (rule 9) that every backend relies on,
    over the model's one reading (``sim.view``). The input quantizer's bit width is 2..16,
    its scale (and the ``Mul`` turning values into codes) a power of two, its zero point 0,
    and it is ``signed=1, narrow=0, rounding_mode=ROUND`` (the only input rounding every
    backend implements). Each adderflow op checks its own bounds (its ``check``: operand
    widths 2..16, accumulators that hold every ``|acc|``, requantization limits, window
    geometry; see ``sim.ops``), the standard ops moving codes check theirs
    (``sim.standard_checks``: a ``Concat``'s operands share one type, a ``Reshape`` keeps the
    batch and the element count), and a requantized tensor another node reads as codes (not
    the graph's output, not an accumulating layer, which names it as its own operand) is
    2..16 bits.
    """
    view = read_view(model)
    producers = {out.name: node for node in view for out in node.outputs}
    for node in view:
        source = producers.get(node.proto.input[0]) if node.proto.input else None
        cls = op_class(node.proto)
        if source is not None and _requantizes(source) and not (cls and cls.accumulating()):
            checks.code_width(source, node)
        if node.is_adderflow:
            if cls is not None:
                cls.concern("check", node.where())(node)
        elif node.domain in STANDARD_DOMAINS and node.op in STANDARD_CHECKS:
            STANDARD_CHECKS[node.op](node)
        elif node.op == "Quant":
            _check_quant(node.proto, f"node '{node.label}'", view)
        elif node.op == "Mul":
            factor = next((t.value for t in node.inputs if t.value is not None), None)
            if factor is not None and not power_of_two(factor):
                raise QuantizationError(
                    f"node '{node.label}' (Mul): factor {_show(factor)} is not a power of two; "
                    "the hardware path scales by shifts only"
                )


def _requantizes(node: Node) -> bool:
    cls = op_class(node.proto)
    return cls is not None and cls.requantizes


def power_of_two(value: np.ndarray) -> bool:
    """Every element a positive power of two (``2**k`` for an integer ``k``), exactly."""
    value = np.asarray(value, dtype=np.float64)
    if value.size == 0 or not np.all(np.isfinite(value)) or not np.all(value > 0):
        return False
    mantissa, _ = np.frexp(value)
    return bool(np.all(mantissa == 0.5))


def _show(value: np.ndarray) -> str:
    flat = np.asarray(value).ravel()
    return f"{flat[0]:g}" if flat.size == 1 else f"[{', '.join(f'{v:g}' for v in flat[:4])}...]"


def _const(node, label: str, view: ModelView, index: int, what: str) -> np.ndarray:
    name = node.input[index] if len(node.input) > index else ""
    value = view.tensors[name].value if name in view.tensors else None
    if value is None:
        raise ModelFormatError(f"{label} ({node.op_type}): {what} '{name}' is not an initializer")
    return value


def _check_quant(node, label: str, view: ModelView) -> int:
    bits = _const(node, label, view, 3, "bit width")
    if bits.size != 1 or float(bits.ravel()[0]) != round(float(bits.ravel()[0])):
        raise QuantizationError(f"{label} (Quant): bit width {_show(bits)} is not an integer")
    width = check_bits(int(bits.ravel()[0]), f"{label} (Quant): bit width")
    for name, allowed in _INPUT_QUANT_ATTRS.items():
        value = node_attr(node, name, allowed)
        if value != allowed:
            raise QuantizationError(
                f"{label} (Quant): {name}={value} is not supported; the contract's input "
                f"quantizer is signed=1, narrow=0, rounding_mode=ROUND (round half to even, "
                "saturating), which every backend implements"
            )
    scale = _const(node, label, view, 1, "scale")
    if not power_of_two(scale):
        raise QuantizationError(
            f"{label} (Quant): scale {_show(scale)} is not a power of two; the hardware path "
            "needs fixed<b, f> scales 2**-f"
        )
    zeropt = _const(node, label, view, 2, "zero point")
    if np.any(zeropt != 0):
        raise QuantizationError(f"{label} (Quant): zero point {_show(zeropt)} is not 0")
    return width


# The input quantizer every backend implements (DESIGN.md rule 5); anything else is refused.
_INPUT_QUANT_ATTRS = {"signed": 1, "narrow": 0, "rounding_mode": "ROUND"}


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


def _concat(node, ins):
    return np.concatenate(ins, axis=node_attr(node, "axis"))


def _reshape(node, ins):
    x, shape = ins
    # ONNX: a 0 copies the input's size there (allowzero=0, which the load check requires).
    dims = [x.shape[i] if d == 0 else int(d) for i, d in enumerate(np.asarray(shape).tolist())]
    return x.reshape(dims)


_STANDARD = {
    "Quant": _quant,
    "Mul": lambda node, ins: ins[0] * ins[1],
    "Cast": _cast,
    "Flatten": _flatten,
    "Concat": _concat,
    "Reshape": _reshape,
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
    """A copy of ``model`` whose inputs, outputs and intermediate tensors have ``batch`` rows.

    Only tensors computed from the graph input change: a tensor computed from constants
    alone (a packed weight unpacked in a lowered graph) keeps its shape.
    """
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    constants = {t.name for t in graph.initializer}
    dynamic = {vi.name for vi in graph.input if vi.name not in constants}
    for node in graph.node:
        if any(name in dynamic for name in node.input):
            dynamic.update(node.output)
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        if vi.name in dynamic:
            vi.type.tensor_type.shape.dim[0].dim_value = batch
    return copy


def output_name(model: onnx.ModelProto) -> str:
    return model.graph.output[0].name
