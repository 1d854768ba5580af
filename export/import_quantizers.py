"""The quantizers of a foreign model, as ``adderflow import`` reads them: QONNX ``Quant``/
``BipolarQuant``/``Trunc`` and ONNX ``DequantizeLinear`` (bit width, signedness, scale,
zero point), the quantizer feeding a layer's operand through shape-only ops, ReLU and max
pooling, and an adderflow IR tensor's own annotation."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper
from qonnx.core.modelwrapper import ModelWrapper

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.export.import_report import Quantizer
from adderflow.fixed import code_bits
from adderflow.sim.executor import power_of_two
from adderflow.sim.onnx_io import node_attr

QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general")
QONNX_DOMAIN = QONNX_DOMAINS[0]
QUANTIZERS = ("Quant", "BipolarQuant", "Trunc")
# Ops between a quantizer and a layer that keep values on the quantizer's grid.
SHAPE_OPS = frozenset({"Flatten", "Reshape", "Transpose", "Identity", "Squeeze", "Unsqueeze"})
ACT_TRANSPARENT = SHAPE_OPS | {"Relu", "MaxPool", "Pad", "Dropout"}
WEIGHT_TRANSPARENT = SHAPE_OPS | {"Cast"}
RULE_7 = "kept as a multiplication layer (DESIGN.md rule 7)"
# The widest quantizer a float QONNX tensor carries here (brevitas' 32-bit bias quantizers);
# wider ones, and widths that are not positive integers, are errors for import and energy.
MAX_QUANT_BITS = 32
_INT_ELEM = {
    TensorProto.INT4: (4, True),
    TensorProto.UINT4: (4, False),
    TensorProto.INT8: (8, True),
    TensorProto.UINT8: (8, False),
    TensorProto.INT16: (16, True),
    TensorProto.UINT16: (16, False),
    TensorProto.INT32: (32, True),
    TensorProto.UINT32: (32, False),
}



def _const(wrapper: ModelWrapper, name: str) -> np.ndarray | None:
    if not name:
        return None
    value = wrapper.get_initializer(name)
    if value is not None:
        return np.asarray(value)
    producer = wrapper.find_producer(name)
    if producer is not None and producer.op_type == "Constant":
        tensor = next((a.t for a in producer.attribute if a.name == "value"), None)
        return None if tensor is None else numpy_helper.to_array(tensor)
    return None


def _elem_type(wrapper: ModelWrapper, name: str) -> int | None:
    graph = wrapper.graph
    for t in graph.initializer:
        if t.name == name:
            return t.data_type
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        if vi.name == name:
            return vi.type.tensor_type.elem_type
    return None


def _input(node: onnx.NodeProto, index: int) -> str:
    return node.input[index] if len(node.input) > index else ""


def read_quantizer(wrapper: ModelWrapper, node: onnx.NodeProto, where: str) -> Quantizer:
    """Bits, signedness and scale of a quantizer node; a malformed bit width is an error."""
    label = f"{where}: node '{node.name}' ({node.op_type})"
    op = node.op_type
    if op == "DequantizeLinear":
        elem = _elem_type(wrapper, node.input[0])
        if elem not in _INT_ELEM:
            raise QuantizationError(
                f"{label}: input '{node.input[0]}' is not an integer tensor of 4, 8, 16 or 32 bits"
            )
        # A QCDQ export (brevitas export_onnx_qcdq) stores 4-bit weights and 6-bit
        # activations in int8/uint8 and narrows them with a Clip between Q and DQ.
        bits, signed = getattr(wrapper, "clip_ranges", {}).get(node.name) or _INT_ELEM[elem]
        scale, zeropt = _input(node, 1), _input(node, 2)
    else:
        if op == "BipolarQuant":
            bits_name, scale, zeropt = "", _input(node, 1), ""
        elif op == "Trunc":  # v1: x, scale, zeropt, in_bits, out_bits; v2 adds out_scale
            v2 = len(node.input) >= 6
            bits_name = _input(node, 5 if v2 else 4)
            scale, zeropt = _input(node, 4 if v2 else 1), _input(node, 2)
        else:
            bits_name, scale, zeropt = _input(node, 3), _input(node, 1), _input(node, 2)
        if op == "BipolarQuant":
            bits = 1
        else:
            value = _const(wrapper, bits_name)
            if value is None:
                raise ModelFormatError(f"{label}: bit width '{bits_name}' is not a constant")
            flat = value.astype(np.float64).ravel()
            if flat.size != 1 or not np.isfinite(flat[0]) or flat[0] != round(flat[0]):
                raise QuantizationError(
                    f"{label}: bit width {flat.tolist()} is not one positive integer"
                )
            bits = int(flat[0])
            if not 1 <= bits <= MAX_QUANT_BITS:
                raise QuantizationError(
                    f"{label}: bit width {bits} is outside 1..{MAX_QUANT_BITS} (a positive "
                    "integer a float tensor's quantizer can carry)"
                )
        signed = op == "BipolarQuant" or bool(node_attr(node, "signed", 1))
    scale_value = _const(wrapper, scale)
    if scale_value is None and op == "DequantizeLinear" and not scale:
        raise ModelFormatError(f"{label}: has no scale input")
    zp_value = _const(wrapper, zeropt)
    return Quantizer(
        node=node.name,
        op=op,
        bits=bits,
        signed=signed,
        scale=None if scale_value is None else float(np.ravel(scale_value)[0]),
        scale_pow2=None if scale_value is None else power_of_two(scale_value),
        per_channel=scale_value is not None and scale_value.size > 1,
        zero_point_zero=(not zeropt) or (zp_value is not None and not np.any(zp_value)),
    )


def clip_ranges(model: onnx.ModelProto) -> dict[str, tuple[int, bool]]:
    """``(bits, signed)`` per ``DequantizeLinear`` fed by a constant-bound ``Clip``.

    A QCDQ export (brevitas ``export_onnx_qcdq``) stores 4-bit weights and 6-bit activations
    in int8/uint8 and narrows them with a Clip between Q and DQ: ``[-8, 7]`` and ``[-7, 7]``
    are 4 signed bits, ``[0, 63]`` 6 unsigned bits. Read on the file as written, before the
    tidy folds a weight's Clip into its initializer.
    """
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Constant" and node.output:
            tensor = next((a.t for a in node.attribute if a.name == "value"), None)
            if tensor is not None:
                consts[node.output[0]] = numpy_helper.to_array(tensor)
    clips = {n.output[0]: n for n in model.graph.node if n.op_type == "Clip" and n.output}
    ranges = {}
    for node in model.graph.node:
        clip = clips.get(node.input[0]) if node.op_type == "DequantizeLinear" else None
        bounds = [consts.get(_input(clip, i)) for i in (1, 2)] if clip is not None else []
        if len(bounds) != 2 or any(b is None or b.size != 1 for b in bounds):
            continue
        lo, hi = (int(np.ravel(b)[0]) for b in bounds)
        if lo < 0:
            ranges[node.name] = (code_bits(np.array([lo, hi])), True)
        else:
            ranges[node.name] = (max(1, hi.bit_length()), False)
    return ranges


def _feeding_quantizer(
    wrapper: ModelWrapper, name: str, transparent: frozenset[str]
) -> onnx.NodeProto | None:
    """The quantizer whose grid ``name`` is on, found back through ``transparent`` ops."""
    for _ in range(len(wrapper.graph.node) + 1):
        producer = wrapper.find_producer(name)
        if producer is None:
            return None
        if producer.op_type in QUANTIZERS or producer.op_type == "DequantizeLinear":
            return producer
        if producer.op_type not in transparent or not producer.input:
            return None
        name = producer.input[0]
    return None


def _constant(wrapper: ModelWrapper, name: str) -> bool:
    """Whether ``name`` is computed from constants only (a weight), through quantizers and
    shape ops."""
    through = WEIGHT_TRANSPARENT | set(QUANTIZERS) | {"DequantizeLinear", "QuantizeLinear"}
    for _ in range(len(wrapper.graph.node) + 1):
        if wrapper.get_initializer(name) is not None:
            return True
        producer = wrapper.find_producer(name)
        if producer is None:
            return False
        if producer.op_type == "Constant":
            return True
        if producer.op_type not in through or not producer.input:
            return False
        name = producer.input[0]
    return False


def _bipolar(op: str = "BIPOLAR") -> Quantizer:
    """A binary layer's operand, one bit each: ±1 codes (an adderflow binary layer's,
    ``BIPOLAR``) or {0, 1} bits standing for them (qonnx's XnorPopcountMatMul, ``BINARY``)."""
    return Quantizer(
        node="",
        op=op,
        bits=1,
        signed=True,
        scale=1.0,
        scale_pow2=True,
        per_channel=False,
        zero_point_zero=True,
    )


def _annotated(wrapper: ModelWrapper, name: str) -> Quantizer | None:
    """An adderflow op's operand: integer codes whose width its datatype annotation gives."""
    datatype = wrapper.get_tensor_datatype(name)
    if datatype is None or not datatype.is_integer():
        return None
    return Quantizer(
        node="",
        op=datatype.get_canonical_name(),
        bits=datatype.bitwidth(),
        signed=datatype.signed(),
        scale=1.0,
        scale_pow2=True,
        per_channel=False,
        zero_point_zero=True,
    )


def _shape(wrapper: ModelWrapper, name: str) -> tuple[int, ...] | None:
    try:
        shape = wrapper.get_tensor_shape(name)
    except Exception:  # no value info
        return None
    if shape is None or any(not isinstance(d, int) or d <= 0 for d in shape):
        return None
    return tuple(int(d) for d in shape)


