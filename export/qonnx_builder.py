"""``QuantizedNetwork`` → QONNX model: the one IR every backend reads.

The graph takes the float image, quantizes it with a standard QONNX ``Quant`` node, turns
the dequantized values into int64 codes (``Mul`` by ``2**f`` is exact, then ``Cast``), and
from there every tensor is an int64 code tensor produced by ``adderflow``-domain ops:
``AdderConv``/``IntConv``/``AdderGemm``/``IntGemm`` accumulate, ``Requant`` folds batch
norm, bias and ReLU, ``IntMaxPool``/``IntAvgPool`` pool, and a standard ``Flatten``
reshapes. Binary layers (``XnorConv``/``XnorGemm``) read ±1 codes (datatype
``BIPOLAR``) with weights packed as bits (a uint8 initializer, logical shape in
``weight_shape``), and the layer feeding them ends in a ``BinaryThreshold`` (batch norm +
sign) instead of a ``Requant``.

The network is a graph (``quant.spec``): each layer's node reads its operands' tensors by
name, so a residual ``IntAdd``, an ``IntMul`` gate and a standard ``Concat`` join branches;
``IntSumPool`` (a window sum) and the joins are accumulators followed by a ``Requant``; a
standard ``Reshape`` (its target an int64 initializer, batch axis ``-1``) takes a 1-D
network into 2-D. Datatypes follow the codes: ``INT<out_bits>`` or ``BIPOLAR`` out of a
requantizer, unchanged through pools, ``Flatten``, ``Concat`` and ``Reshape``. Attributes
at their default (a conv's ``group`` 1, a max pool's zero ``pads``) are not written, so a
network in a line gives the IR it always did.

Tensor names are ``<layer>_acc`` and ``<layer>_out`` so backends compare layer by layer.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

import adderflow
from adderflow.errors import QuantizationError
from adderflow.fixed import BipolarType, pack_bits, signed_bits
from adderflow.quant.spec import (
    INPUT,
    AddLayer,
    ComputeLayer,
    ConcatLayer,
    FlattenLayer,
    LutLayer,
    MulLayer,
    PoolLayer,
    QuantizedNetwork,
    ReshapeLayer,
    SignLayer,
    SumPoolLayer,
)
from adderflow.sim.ops import DOMAIN
from adderflow.sim.ops.base import conv_output_shape

QONNX_DOMAIN = "qonnx.custom_op.general"
OPSET = 13
INPUT_NAME = "image"


@dataclass(frozen=True)
class _Value:
    """A layer's result while the graph is built: tensor name, per-sample shape, datatype."""

    name: str
    shape: tuple[int, ...]
    datatype: str  # "INTn" or "BIPOLAR"


class _Graph:
    """Accumulates nodes, initializers and typed value infos while layers are added."""

    def __init__(self, batch: int) -> None:
        self.batch = batch
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[TensorProto] = []
        self.infos: list[onnx.ValueInfoProto] = []
        self.datatypes: dict[str, str] = {}

    def init(self, name: str, value: np.ndarray) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def tensor(self, name: str, shape: tuple[int, ...], bits: int | None, float_: bool = False):
        elem = TensorProto.FLOAT if float_ else TensorProto.INT64
        self.infos.append(helper.make_tensor_value_info(name, elem, [self.batch, *shape]))
        if bits is not None:
            self.datatypes[name] = f"INT{bits}"


def _add_input(g: _Graph, net: QuantizedNetwork) -> str:
    t = net.input_type
    g.nodes += [
        helper.make_node(
            "Quant",
            [
                INPUT_NAME,
                g.init("input_scale", np.float32(t.scale)),
                g.init("input_zeropt", np.float32(0)),
                g.init("input_bits", np.float32(t.bits)),
            ],
            ["input_dequant"],
            domain=QONNX_DOMAIN,
            name="input_quant",
            signed=1,
            narrow=0,
            rounding_mode="ROUND",
        ),
        helper.make_node(
            "Mul",
            ["input_dequant", g.init("input_unscale", np.float32(2.0**t.frac))],
            ["input_scaled"],
            name="input_to_codes",
        ),
        helper.make_node(
            "Cast", ["input_scaled"], ["input_codes"], to=TensorProto.INT64, name="input_cast"
        ),
    ]
    g.tensor("input_dequant", net.input_shape, None, float_=True)
    g.tensor("input_scaled", net.input_shape, None, float_=True)
    g.tensor("input_codes", net.input_shape, t.bits)
    return "input_codes"


_OPS = {
    (True, "adder"): "AdderConv",
    (True, "mul"): "IntConv",
    (True, "xnor"): "XnorConv",
    (False, "adder"): "AdderGemm",
    (False, "mul"): "IntGemm",
    (False, "xnor"): "XnorGemm",
}


def _datatype(t) -> str:
    return "BIPOLAR" if isinstance(t, BipolarType) else f"INT{t.bits}"


def _add_weight(g: _Graph, layer: ComputeLayer) -> tuple[str, dict]:
    """The weight initializer (packed bits for a binary layer) and attributes it implies."""
    name = f"{layer.name}_weight"
    if layer.kind == "xnor":
        g.init(name, pack_bits(layer.weight))
        g.datatypes[name] = "UINT8"  # 8 weight bits a byte; the logical shape is an attribute
        return name, {"weight_shape": list(layer.weight.shape)}
    g.init(name, layer.weight.astype(np.int64))
    g.datatypes[name] = f"INT{layer.w_type.bits}"
    return name, {}


def _add_compute(g: _Graph, layer: ComputeLayer, x: _Value) -> _Value:
    name = layer.name
    weight, attrs = _add_weight(g, layer)
    op = _OPS[layer.is_conv, layer.kind]
    if layer.is_conv:
        _expect_rank(layer.name, x, 3)
        n_shape = conv_output_shape((1, *x.shape), layer.weight.shape, layer.strides, layer.pads)
        out_shape = n_shape[1:]
        attrs.update(
            kernel_shape=list(layer.weight.shape[2:]),
            strides=list(layer.strides),
            pads=list(layer.pads),
        )
        if layer.groups != 1:  # absent means 1: line networks' IR stays as it was
            attrs["group"] = int(layer.groups)
        in_channels = layer.weight.shape[1] * layer.groups
    else:
        _expect_rank(layer.name, x, 1)
        out_shape = (layer.weight.shape[0],)
        in_channels = layer.weight.shape[1]
    if x.shape[0] != in_channels:
        raise QuantizationError(
            f"layer '{name}': weight {list(layer.weight.shape)} (groups {layer.groups}) "
            f"expects {in_channels} input channels, operand '{x.name}' has shape "
            f"{list(x.shape)}"
        )
    g.nodes.append(
        helper.make_node(
            op,
            [x.name, weight],
            [f"{name}_acc"],
            domain=DOMAIN,
            name=name,
            out_bits=layer.acc_bits,
            **attrs,
        )
    )
    g.tensor(f"{name}_acc", out_shape, layer.acc_bits)
    if layer.thresholded:
        _add_threshold(g, layer)
    else:
        _add_requant(g, layer)
    return _requantized(g, layer, out_shape)


def _requantized(g: _Graph, layer, shape: tuple) -> _Value:
    """The layer's ``<name>_out`` tensor, typed by its ``out_type``."""
    name = f"{layer.name}_out"
    g.tensor(name, shape, None)
    g.datatypes[name] = _datatype(layer.out_type)
    return _Value(name, shape, g.datatypes[name])


def _expect_rank(layer: str, x: _Value, rank: int) -> None:
    if len(x.shape) != rank:
        raise QuantizationError(
            f"layer '{layer}': operand '{x.name}' has shape {list(x.shape)}, expected "
            f"{rank} axes per sample ({'C, H, W' if rank == 3 else 'features'})"
        )


def _add_requant(g: _Graph, layer: ComputeLayer) -> None:
    name, rq = layer.name, layer.requant
    g.nodes.append(
        helper.make_node(
            "Requant",
            [
                f"{name}_acc",
                g.init(f"{name}_multiplier", rq.multiplier.astype(np.int64)),
                g.init(f"{name}_bias", rq.bias.astype(np.int64)),
            ],
            [f"{name}_out"],
            domain=DOMAIN,
            name=f"{name}_requant",
            shift=int(rq.shift),
            out_bits=layer.out_type.bits,
            relu=int(layer.relu),
        )
    )


def _add_threshold(g: _Graph, layer: ComputeLayer) -> None:
    """Batch norm + sign as one integer threshold per channel (DESIGN.md rule 6)."""
    name, th = layer.name, layer.requant
    threshold = g.init(f"{name}_threshold", th.threshold.astype(np.int64))
    direction = g.init(f"{name}_direction", th.direction.astype(np.int64))
    g.datatypes[threshold] = f"INT{signed_bits(int(np.abs(th.threshold).max(initial=0)))}"
    g.datatypes[direction] = "BIPOLAR"
    g.nodes.append(
        helper.make_node(
            "BinaryThreshold",
            [f"{name}_acc", threshold, direction],
            [f"{name}_out"],
            domain=DOMAIN,
            name=f"{name}_threshold",
        )
    )


def _add_pool(g: _Graph, layer: PoolLayer, x: _Value) -> _Value:
    _expect_rank(layer.name, x, 3)
    c, h, w = x.shape
    top, left, bottom, right = layer.pads
    out_shape = (
        c,
        (h + top + bottom - layer.kernel[0]) // layer.strides[0] + 1,
        (w + left + right - layer.kernel[1]) // layer.strides[1] + 1,
    )
    if layer.mode == "avg" and x.datatype == "BIPOLAR":
        raise QuantizationError(
            f"layer '{layer.name}': an average of ±1 codes is not ±1; binary activations "
            "are pooled with max pooling"
        )
    attrs = {"pads": list(layer.pads)} if any(layer.pads) else {}  # absent: no padding
    g.nodes.append(
        helper.make_node(
            "IntAvgPool" if layer.mode == "avg" else "IntMaxPool",
            [x.name],
            [f"{layer.name}_out"],
            domain=DOMAIN,
            name=layer.name,
            kernel_shape=list(layer.kernel),
            strides=list(layer.strides),
            out_bits=_bits(x.datatype),
            **attrs,
        )
    )
    return _passed(g, layer, out_shape, x.datatype)


def _passed(g: _Graph, layer, shape: tuple, datatype: str) -> _Value:
    """``<name>_out`` of a layer that moves or selects codes: its operands' datatype."""
    name = f"{layer.name}_out"
    g.tensor(name, shape, None)
    g.datatypes[name] = datatype
    return _Value(name, shape, datatype)


def _add_sum_pool(g: _Graph, layer: SumPoolLayer, x: _Value) -> _Value:
    _expect_rank(layer.name, x, 3)
    _expect_codes(layer.name, x)
    c, h, w = x.shape
    out_shape = (
        c,
        (h - layer.kernel[0]) // layer.strides[0] + 1,
        (w - layer.kernel[1]) // layer.strides[1] + 1,
    )
    return _accumulate_then_requant(
        g, layer, "IntSumPool", [x], out_shape,
        kernel_shape=list(layer.kernel), strides=list(layer.strides),
    )  # fmt: skip


def _add_join(g: _Graph, layer: AddLayer, a: _Value, b: _Value) -> _Value:
    for x in (a, b):
        _expect_codes(layer.name, x)
    if a.shape != b.shape:
        raise QuantizationError(
            f"layer '{layer.name}': operands '{a.name}' {list(a.shape)} and '{b.name}' "
            f"{list(b.shape)} differ in shape (a residual add does not broadcast)"
        )
    return _accumulate_then_requant(
        g, layer, "IntAdd", [a, b], a.shape, shifts=[int(s) for s in layer.shifts]
    )


def _add_mul(g: _Graph, layer: MulLayer, x: _Value, gate: _Value) -> _Value:
    for v in (x, gate):
        _expect_codes(layer.name, v)
    _expect_rank(layer.name, x, 3)
    if gate.shape != (x.shape[0], 1, 1):
        raise QuantizationError(
            f"layer '{layer.name}': gate '{gate.name}' of shape {list(gate.shape)} is not one "
            f"code per channel of '{x.name}' {list(x.shape)} (expected [{x.shape[0]}, 1, 1])"
        )
    return _accumulate_then_requant(g, layer, "IntMul", [x, gate], x.shape)


def _accumulate_then_requant(g: _Graph, layer, op: str, operands, shape, **attrs) -> _Value:
    """``op`` → ``<name>_acc`` (``acc_bits`` wide), then a ``Requant`` → ``<name>_out``."""
    g.nodes.append(
        helper.make_node(
            op,
            [v.name for v in operands],
            [f"{layer.name}_acc"],
            domain=DOMAIN,
            name=layer.name,
            out_bits=layer.acc_bits,
            **attrs,
        )
    )
    g.tensor(f"{layer.name}_acc", shape, layer.acc_bits)
    _add_requant(g, layer)
    return _requantized(g, layer, shape)


def _expect_codes(layer: str, x: _Value) -> None:
    if x.datatype == "BIPOLAR":
        raise QuantizationError(
            f"layer '{layer}': operand '{x.name}' is ±1 codes; this layer takes multi-bit "
            "codes (end the layer before it in a requantizer, not a sign threshold)"
        )


def _add_concat(g: _Graph, layer: ConcatLayer, net: QuantizedNetwork, index: int, *xs: _Value):
    sources = net.sources(index)
    types = {str(net.type_of(s)) for s in sources}
    if len(types) != 1 or len({x.datatype for x in xs}) != 1:
        raise QuantizationError(
            f"layer '{layer.name}': operands {list(sources)} have types {sorted(types)}; a "
            "concatenation needs one type (requantize them to a common scale first)"
        )
    if len({x.shape[1:] for x in xs}) != 1:
        raise QuantizationError(
            f"layer '{layer.name}': operands {[list(x.shape) for x in xs]} differ beyond the "
            "channel axis"
        )
    shape = (sum(x.shape[0] for x in xs), *xs[0].shape[1:])
    g.nodes.append(
        helper.make_node(
            "Concat", [x.name for x in xs], [f"{layer.name}_out"], axis=1, name=layer.name
        )
    )
    return _passed(g, layer, shape, xs[0].datatype)


def _add_flatten(g: _Graph, layer: FlattenLayer, x: _Value) -> _Value:
    out_shape = (int(np.prod(x.shape)),)
    g.nodes.append(
        helper.make_node("Flatten", [x.name], [f"{layer.name}_out"], axis=1, name=layer.name)
    )
    return _passed(g, layer, out_shape, x.datatype)


def _add_reshape(g: _Graph, layer: ReshapeLayer, x: _Value) -> _Value:
    shape = tuple(int(d) for d in layer.shape)
    if int(np.prod(shape)) != int(np.prod(x.shape)) or min(shape, default=0) < 1:
        raise QuantizationError(
            f"layer '{layer.name}': cannot reshape '{x.name}' {list(x.shape)} to {list(shape)}"
        )
    # -1 keeps the batch axis whatever batch the model is run with.
    target = g.init(f"{layer.name}_shape", np.array([-1, *shape], dtype=np.int64))
    g.nodes.append(
        helper.make_node("Reshape", [x.name, target], [f"{layer.name}_out"], name=layer.name)
    )
    return _passed(g, layer, shape, x.datatype)


def _bits(datatype: str) -> int:
    """``out_bits`` of a pool over tensors of ``datatype``: ±1 codes fit 2 signed bits."""
    return 2 if datatype == "BIPOLAR" else int(datatype[3:])


def _emit(g: _Graph, net: QuantizedNetwork, index: int, operands: list[_Value]) -> _Value:
    layer = net.layers[index]
    if isinstance(layer, ConcatLayer):
        return _add_concat(g, layer, net, index, *operands)
    emit = _EMIT.get(type(layer))
    if emit is None:
        raise QuantizationError(
            f"layer '{layer.name}': {type(layer).__name__} has no IR form in the QONNX builder"
        )
    arity = 2 if isinstance(layer, (AddLayer, MulLayer)) else 1
    if len(operands) != arity:
        raise QuantizationError(
            f"layer '{layer.name}': {type(layer).__name__} takes {arity} operand(s), "
            f"got {len(operands)}"
        )
    return emit(g, layer, *operands)


def _add_sign(g: _Graph, layer: SignLayer, x: _Value) -> _Value:
    """±1 codes of ``x``'s codes (a sign threshold at 0, direction +1, per channel), or
    of its producer's accumulator with the layer's threshold."""
    _expect_codes(layer.name, x)
    channels, source = x.shape[0], x.name
    th, dt = np.zeros(channels, dtype=np.int64), np.ones(channels, dtype=np.int64)
    if layer.threshold is not None:
        th, dt = layer.threshold.threshold, layer.threshold.direction
        source = f"{layer.inputs[0]}_acc"
        if source not in {vi.name for vi in g.infos} or len(th) != channels:
            raise QuantizationError(
                f"layer '{layer.name}': a threshold of {len(th)} channels on '{source}', "
                f"which is not an accumulator of {channels} channels"
            )
    threshold = g.init(f"{layer.name}_threshold", np.asarray(th, dtype=np.int64))
    direction = g.init(f"{layer.name}_direction", np.asarray(dt, dtype=np.int64))
    g.datatypes[threshold] = f"INT{signed_bits(int(np.abs(th).max(initial=0)))}"
    g.datatypes[direction] = "BIPOLAR"
    g.nodes.append(
        helper.make_node(
            "BinaryThreshold",
            [source, threshold, direction],
            [f"{layer.name}_out"],
            domain=DOMAIN,
            name=layer.name,
        )
    )
    return _passed(g, layer, x.shape, "BIPOLAR")


def _add_lut(g: _Graph, layer: LutLayer, x: _Value) -> _Value:
    """``IntLut`` of ``x``'s codes: the table indexed by code − qmin."""
    _expect_codes(layer.name, x)
    table = np.asarray(layer.table, dtype=np.int64)
    if table.size != 1 << _bits(x.datatype):
        raise QuantizationError(
            f"layer '{layer.name}': a table of {table.size} entries for {x.datatype} "
            f"operand '{x.name}' (it needs 2**{_bits(x.datatype)})"
        )
    name = g.init(f"{layer.name}_table", table)
    g.datatypes[name] = f"INT{layer.out_type.bits}"
    g.nodes.append(
        helper.make_node(
            "IntLut",
            [x.name, name],
            [f"{layer.name}_out"],
            domain=DOMAIN,
            name=layer.name,
            out_bits=layer.out_type.bits,
        )
    )
    return _requantized(g, layer, x.shape)


_EMIT = {
    ComputeLayer: _add_compute,
    PoolLayer: _add_pool,
    SumPoolLayer: _add_sum_pool,
    AddLayer: _add_join,
    MulLayer: _add_mul,
    FlattenLayer: _add_flatten,
    ReshapeLayer: _add_reshape,
    SignLayer: _add_sign,
    LutLayer: _add_lut,
}


def build_qonnx(net: QuantizedNetwork, batch: int = 1) -> onnx.ModelProto:
    """The QONNX model of ``net`` for a fixed batch size (qonnx needs static shapes)."""
    g = _Graph(batch)
    values = {INPUT: _Value(_add_input(g, net), net.input_shape, _datatype(net.input_type))}
    for index, layer in enumerate(net.layers):
        operands = [values[name] for name in net.sources(index)]
        values[layer.name] = _emit(g, net, index, operands)
    x = values[net.layers[-1].name].name
    inp = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [batch, *net.input_shape])
    infos = [vi for vi in g.infos if vi.name != x]
    out = next(vi for vi in g.infos if vi.name == x)
    graph = helper.make_graph(g.nodes, "adderflow", [inp], [out], g.inits, value_info=infos)
    model = helper.make_model(
        graph,
        producer_name="adderflow",
        producer_version=adderflow.__version__,
        opset_imports=[
            helper.make_opsetid("", OPSET),
            helper.make_opsetid(DOMAIN, 1),
            helper.make_opsetid(QONNX_DOMAIN, 1),
        ],
    )
    wrapper = ModelWrapper(model)
    for name, dt in g.datatypes.items():
        wrapper.set_tensor_datatype(name, DataType[dt])
    helper.set_model_props(
        wrapper.model,
        {
            "adderflow.input_frac": str(net.input_type.frac),
            "adderflow.input_bits": str(net.input_type.bits),
            "adderflow.output_frac": str(net.output_type.frac),
        },
    )
    return wrapper.model
