"""IR models built by hand around the graph ops of issue #20 (a window sum, a gate product,
a channel concatenation, a reshape), until the QONNX builder emits them from a graph spec.

    sum_pool_ir:  input codes ─ IntSumPool ─ Requant
    gate_ir:      input codes ─────────────────────────────────┬─ IntMul ─ Requant
                     └─ IntSumPool (whole frame) ─ Requant ────┘   (a squeeze-excite gate)
    concat_ir:    input codes ───────────────────────┬─ Concat ─ IntSumPool ─ Requant
                     └─ IntSumPool 1x1 ─ Requant ────┘
    reshape_ir:   input codes [N, C, L] ─ Reshape [0, C, 1, L] ─ IntSumPool (1, k) ─ Requant

The input stage is the builder's (``Quant``, ``Mul`` by ``2**f``, ``Cast``) with frac 0, so
the images are the input codes themselves.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from adderflow.fixed import product_bits, window_sum_bits
from adderflow.sim.ops.base import DOMAIN

QONNX_DOMAIN = "qonnx.custom_op.general"


class Graph:
    """Nodes, initializers, shapes and datatypes of a hand-built IR model."""

    def __init__(self, in_bits: int, shape: tuple[int, ...], batch: int = 1) -> None:
        self.in_bits, self.shape, self.batch = in_bits, shape, batch
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.infos: dict[str, onnx.ValueInfoProto] = {}
        self.datatypes: dict[str, str] = {}
        self.nodes += [
            helper.make_node(
                "Quant",
                ["image", self.init("input_scale", np.float32(1)),
                 self.init("input_zeropt", np.float32(0)),
                 self.init("input_bits", np.float32(in_bits))],
                ["input_dequant"], domain=QONNX_DOMAIN, name="input_quant",
                signed=1, narrow=0, rounding_mode="ROUND",
            ),
            helper.make_node(
                "Mul", ["input_dequant", self.init("input_unscale", np.float32(1))],
                ["input_scaled"], name="input_to_codes",
            ),
            helper.make_node(
                "Cast", ["input_scaled"], ["input_codes"], to=TensorProto.INT64,
                name="input_cast",
            ),
        ]  # fmt: skip
        for name in ("input_dequant", "input_scaled"):
            self.tensor(name, shape, None, TensorProto.FLOAT)
        self.tensor("input_codes", shape, f"INT{in_bits}")

    def init(self, name: str, value) -> str:
        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def tensor(self, name: str, shape, datatype: str | None, elem=TensorProto.INT64) -> str:
        self.infos[name] = helper.make_tensor_value_info(name, elem, [self.batch, *shape])
        if datatype is not None:
            self.datatypes[name] = datatype
        return name

    def node(self, op: str, inputs, output: str, shape, datatype: str, name: str, **attrs):
        domain = "" if op in ("Concat", "Reshape") else DOMAIN
        self.nodes.append(
            helper.make_node(op, list(inputs), [output], name=name, domain=domain, **attrs)
        )
        return self.tensor(output, shape, datatype)

    def requant(self, layer: str, acc: str, shape, out_bits: int, rng, shift: int = 6) -> str:
        """A rule-4 requantization of ``acc`` with random multipliers and biases."""
        channels = shape[0]
        m = rng.integers(-(2**7), 2**7, channels)
        m[m == 0] = 1
        b = rng.integers(-(2**6), 2**6, channels)
        return self.node(
            "Requant",
            [acc, self.init(f"{layer}_m", m.astype(np.int64)),
             self.init(f"{layer}_b", b.astype(np.int64))],
            f"{layer}_out", shape, f"INT{out_bits}", f"{layer}_requant",
            shift=shift, out_bits=out_bits, relu=0,
        )  # fmt: skip

    def sum_pool(self, layer: str, x: str, shape, kernel, strides, bits: int, out_bits=None):
        """``IntSumPool`` of ``x`` (``bits``-bit codes of ``shape``); ``out_bits`` defaults
        to the exact bound."""
        c, h, w = shape
        out = (c, (h - kernel[0]) // strides[0] + 1, (w - kernel[1]) // strides[1] + 1)
        out_bits = out_bits or window_sum_bits(bits, kernel[0] * kernel[1])
        acc = self.node(
            "IntSumPool", [x], f"{layer}_acc", out, f"INT{out_bits}", layer,
            kernel_shape=list(kernel), strides=list(strides), out_bits=out_bits,
        )  # fmt: skip
        return acc, out

    def model(self, output: str) -> onnx.ModelProto:
        inp = helper.make_tensor_value_info("image", TensorProto.FLOAT, [self.batch, *self.shape])
        infos = [vi for name, vi in self.infos.items() if name != output]
        graph = helper.make_graph(
            self.nodes, "graph_ops", [inp], [self.infos[output]], self.inits, value_info=infos
        )
        model = helper.make_model(
            graph,
            producer_name="adderflow",
            opset_imports=[
                helper.make_opsetid("", 13),
                helper.make_opsetid(DOMAIN, 1),
                helper.make_opsetid(QONNX_DOMAIN, 1),
            ],
        )
        wrapper = ModelWrapper(model)
        for name, dt in self.datatypes.items():
            wrapper.set_tensor_datatype(name, DataType[dt])
        helper.set_model_props(
            wrapper.model,
            {"adderflow.input_frac": "0", "adderflow.input_bits": str(self.in_bits),
             "adderflow.output_frac": "0"},
        )  # fmt: skip
        return wrapper.model


def sum_pool_ir(
    in_bits: int,
    kernel: tuple[int, int],
    strides: tuple[int, int],
    shape: tuple[int, int, int] = (2, 5, 7),
    *,
    sum_bits: int | None = None,
    out_bits: int = 8,
    seed: int = 0,
) -> onnx.ModelProto:
    g = Graph(in_bits, shape)
    acc, out = g.sum_pool("pool", "input_codes", shape, kernel, strides, in_bits, sum_bits)
    return g.model(g.requant("pool", acc, out, out_bits, np.random.default_rng(seed)))


def gate_ir(
    in_bits: int,
    gate_bits: int,
    shape: tuple[int, int, int] = (3, 4, 5),
    *,
    mul_bits: int | None = None,
    out_bits: int = 8,
    seed: int = 0,
    squeeze: str = "sum",
) -> onnx.ModelProto:
    """``x · gate`` where the gate is the requantized whole-frame sum of ``x`` (``squeeze``
    ``"sum"``), or its whole-frame max (``"max"``: ``gate_bits`` is then ``in_bits``)."""
    rng = np.random.default_rng(seed)
    g = Graph(in_bits, shape)
    c, h, w = shape
    if squeeze == "max":
        gate = g.node(
            "IntMaxPool", ["input_codes"], "squeeze_out", (c, 1, 1), f"INT{in_bits}", "squeeze",
            kernel_shape=[h, w], strides=[1, 1], out_bits=in_bits,
        )  # fmt: skip
        gate_bits = in_bits
    else:
        acc, pooled = g.sum_pool("squeeze", "input_codes", shape, (h, w), (1, 1), in_bits)
        gate = g.requant("squeeze", acc, pooled, gate_bits, rng, shift=8)
    mul_bits = mul_bits or product_bits(in_bits, gate_bits)
    prod = g.node("IntMul", ["input_codes", gate], "gate_acc", shape, f"INT{mul_bits}", "gate",
                  out_bits=mul_bits)  # fmt: skip
    return g.model(g.requant("gate", prod, shape, out_bits, rng, shift=10))


def concat_ir(
    in_bits: int,
    branch_bits: int | None = None,
    shape: tuple[int, int, int] = (2, 4, 5),
    *,
    out_bits: int = 8,
    seed: int = 0,
    branch: bool = True,
) -> onnx.ModelProto:
    """The input codes and a requantized 1x1 branch of them (``branch_bits`` wide, the
    input's by default) concatenated on the channels, then window-summed; without
    ``branch``, the input codes twice."""
    rng = np.random.default_rng(seed)
    g = Graph(in_bits, shape)
    bits = branch_bits or in_bits
    second = "input_codes"
    if branch:
        acc, _ = g.sum_pool("branch", "input_codes", shape, (1, 1), (1, 1), in_bits)
        second = g.requant("branch", acc, shape, bits, rng, shift=0)
    c, h, w = shape
    cat_shape = (2 * c, h, w)
    cat = g.node("Concat", ["input_codes", second], "cat_out", cat_shape, f"INT{in_bits}", "cat",
                 axis=1)  # fmt: skip
    acc, out = g.sum_pool("pool", cat, cat_shape, (2, 2), (1, 2), in_bits)
    return g.model(g.requant("pool", acc, out, out_bits, rng))


def reshape_ir(
    in_bits: int,
    shape: tuple[int, ...] = (3, 11),
    kernel: int = 3,
    *,
    out_bits: int = 8,
    seed: int = 0,
    target: list[int] | None = None,
) -> onnx.ModelProto:
    """A 1-D network's ``[N, C, L]`` codes entering as 2-D ``[N, C, 1, L]`` (a ``[N, C, H,
    W]`` input becomes ``[N, C, 1, H·W]``); ``target`` replaces the shape constant."""
    g = Graph(in_bits, shape)
    c, length = shape[0], int(np.prod(shape[1:]))
    dims = target or [0, c, 1, length]
    as2d = g.node(
        "Reshape", ["input_codes", g.init("as2d_shape", np.array(dims, np.int64))],
        "as2d_out", (c, 1, length), f"INT{in_bits}", "as2d",
    )  # fmt: skip
    acc, out = g.sum_pool("pool", as2d, (c, 1, length), (1, kernel), (1, 2), in_bits)
    return g.model(g.requant("pool", acc, out, out_bits, np.random.default_rng(seed)))


def images(bits: int, shape, n: int = 4, seed: int = 0, fill: str | None = None) -> np.ndarray:
    """Integer images in the ``bits``-bit code range (frac 0), or all ``"max"``/``"min"``."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if fill is not None:
        return np.full((n, *shape), hi if fill == "max" else lo, np.float32)
    return np.random.default_rng(seed).integers(lo, hi + 1, (n, *shape)).astype(np.float32)
