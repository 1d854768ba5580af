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

Tensor names are ``<layer>_acc`` and ``<layer>_out`` so backends compare layer by layer.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

import adderflow
from adderflow.errors import QuantizationError
from adderflow.fixed import BipolarType, pack_bits, signed_bits
from adderflow.quant.spec import ComputeLayer, FlattenLayer, PoolLayer, QuantizedNetwork
from adderflow.sim.ops import DOMAIN
from adderflow.sim.ops.base import conv_output_shape

QONNX_DOMAIN = "qonnx.custom_op.general"
OPSET = 13
INPUT_NAME = "image"


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


def _add_compute(g: _Graph, layer: ComputeLayer, x: str, shape: tuple) -> tuple[str, tuple]:
    name = layer.name
    weight, attrs = _add_weight(g, layer)
    op = _OPS[layer.is_conv, layer.kind]
    if layer.is_conv:
        out_shape = conv_output_shape((1, *shape), layer.weight.shape, layer.strides, layer.pads)[
            1:
        ]
        attrs.update(
            kernel_shape=list(layer.weight.shape[2:]),
            strides=list(layer.strides),
            pads=list(layer.pads),
        )
    else:
        out_shape = (layer.weight.shape[0],)
    g.nodes.append(
        helper.make_node(
            op,
            [x, weight],
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
    g.tensor(f"{name}_out", out_shape, None)
    g.datatypes[f"{name}_out"] = _datatype(layer.out_type)
    return f"{name}_out", out_shape


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


def _add_pool(g: _Graph, layer: PoolLayer, x: str, shape: tuple, datatype: str):
    c, h, w = shape
    out_shape = (
        c,
        (h - layer.kernel[0]) // layer.strides[0] + 1,
        (w - layer.kernel[1]) // layer.strides[1] + 1,
    )
    if layer.mode == "avg" and datatype == "BIPOLAR":
        raise QuantizationError(
            f"layer '{layer.name}': an average of ±1 codes is not ±1; binary activations "
            "are pooled with max pooling"
        )
    g.nodes.append(
        helper.make_node(
            "IntAvgPool" if layer.mode == "avg" else "IntMaxPool",
            [x],
            [f"{layer.name}_out"],
            domain=DOMAIN,
            name=layer.name,
            kernel_shape=list(layer.kernel),
            strides=list(layer.strides),
            out_bits=_bits(datatype),
        )
    )
    g.tensor(f"{layer.name}_out", out_shape, None)
    g.datatypes[f"{layer.name}_out"] = datatype
    return f"{layer.name}_out", out_shape


def _add_flatten(g: _Graph, layer: FlattenLayer, x: str, shape: tuple, datatype: str):
    out_shape = (int(np.prod(shape)),)
    g.nodes.append(helper.make_node("Flatten", [x], [f"{layer.name}_out"], axis=1, name=layer.name))
    g.tensor(f"{layer.name}_out", out_shape, None)
    g.datatypes[f"{layer.name}_out"] = datatype
    return f"{layer.name}_out", out_shape


def _bits(datatype: str) -> int:
    """``out_bits`` of a pool over tensors of ``datatype``: ±1 codes fit 2 signed bits."""
    return 2 if datatype == "BIPOLAR" else int(datatype[3:])


def build_qonnx(net: QuantizedNetwork, batch: int = 1) -> onnx.ModelProto:
    """The QONNX model of ``net`` for a fixed batch size (qonnx needs static shapes)."""
    g = _Graph(batch)
    x, shape, datatype = _add_input(g, net), net.input_shape, _datatype(net.input_type)
    for layer in net.layers:
        if isinstance(layer, ComputeLayer):
            x, shape = _add_compute(g, layer, x, shape)
            datatype = _datatype(layer.out_type)
        elif isinstance(layer, PoolLayer):
            x, shape = _add_pool(g, layer, x, shape, datatype)
        else:
            x, shape = _add_flatten(g, layer, x, shape, datatype)
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
