"""The builder of standard-ONNX subgraphs and the primitives the op lowerings share.

Each adderflow op lowers itself (its ``lower`` in ``sim.ops``) with a ``Lowering``, which
collects the replacement nodes and constants while ``lower_standard.lower_ops`` walks the
graph. The shared pieces: windows extracted by a float ``Conv`` with one-hot kernels
(copying a code is exact in float32 up to 2**24, far above the contract's 16-bit codes),
the adder core ``-ReduceSum(Abs(x - w))`` and the multiplication core (int64 ``MatMul``),
a packed binary weight unpacked in the graph, and the generic accumulating layer built from
them by the op's traits.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from adderflow.errors import ModelFormatError
from adderflow.sim.onnx_io import node_attr


class Lowering:
    """Collects the replacement nodes and constants while walking the custom graph."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.shapes = {
            vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
            for vi in [*model.graph.input, *model.graph.value_info, *model.graph.output]
        }
        self.nodes: list[onnx.NodeProto] = []
        self.new_inits: list[TensorProto] = []

    def init(self, node: onnx.NodeProto, name: str) -> np.ndarray:
        """The initializer ``name`` the node reads; anything else is refused naming both."""
        if name not in self.inits:
            raise ModelFormatError(
                f"node '{node.name}' ({node.op_type}): input '{name}' is not an initializer"
            )
        return self.inits[name]

    def const(self, name: str, value: np.ndarray) -> str:
        self.new_inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def add(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output


def windows(
    lw: Lowering, node: onnx.NodeProto, x: str, weight_shape: tuple[int, ...]
) -> tuple[str, int, int]:
    """``x`` as ``[N, Ho*Wo, K]`` int64 patches (K in C-major weight order)."""
    _, c, kh, kw = weight_shape
    k = c * kh * kw
    onehot = np.zeros((k, c, kh, kw), dtype=np.float32)
    onehot.reshape(k, k)[np.arange(k), np.arange(k)] = 1.0
    name = node.name
    xf = lw.add("Cast", [x], f"{name}__xf", to=TensorProto.FLOAT)
    cols = lw.add(
        "Conv",
        [xf, lw.const(f"{name}__onehot", onehot)],
        f"{name}__cols",
        kernel_shape=[kh, kw],
        strides=list(node_attr(node, "strides", [1, 1])),  # the op's defaults (CONV_ATTRS)
        pads=list(node_attr(node, "pads", [0, 0, 0, 0])),
    )
    n, o, ho, wo = lw.shapes[node.output[0]]
    flat = lw.add(
        "Reshape", [cols, lw.const(f"{name}__shape3", np.array([0, k, -1]))], f"{name}__flat"
    )
    rows = lw.add("Transpose", [flat], f"{name}__rows", perm=[0, 2, 1])  # N, L, K
    return lw.add("Cast", [rows], f"{name}__rows_i", to=TensorProto.INT64), ho, wo


def adder_core(lw: Lowering, name: str, rows: str, weight: np.ndarray) -> str:
    """``rows [..., K]`` against ``weight [O, K]`` → ``[..., O]`` of ``-Σ|x - w|``."""
    x = lw.add("Unsqueeze", [rows, lw.const(f"{name}__ax", np.array([-2]))], f"{name}__x4")
    diff = lw.add("Sub", [x, lw.const(f"{name}__w", weight.astype(np.int64))], f"{name}__diff")
    total = lw.add(
        "ReduceSum",
        [lw.add("Abs", [diff], f"{name}__abs"), lw.const(f"{name}__axk", np.array([-1]))],
        f"{name}__sum",
        keepdims=0,
    )
    return lw.add("Neg", [total], f"{name}__neg")


def mul_core(lw: Lowering, name: str, rows: str, weight: np.ndarray) -> str:
    return lw.add("MatMul", [rows, _matrix(lw, name, weight)], f"{name}__mm")


def unpacked_weight(lw: Lowering, node: onnx.NodeProto, shape: tuple[int, ...]) -> str:
    """A binary layer's packed uint8 weight ``[O, B]`` unpacked in the graph to the int64
    ±1 matrix ``[K, O]``: bit ``j`` of a byte is ``(byte / 2**j) mod 2`` (integer ``Div``,
    ``Mod``), least significant first, the tail past ``K`` sliced off, then ``2·bit − 1``."""
    name = node.name
    out, terms = shape[0], int(np.prod(shape[1:]))
    nbytes = lw.init(node, node.input[1]).shape[1]
    as_int = lw.add("Cast", [node.input[1]], f"{name}__wbytes", to=TensorProto.INT64)
    column = lw.add("Unsqueeze", [as_int, lw.const(f"{name}__wax", np.array([2]))], f"{name}__wcol")
    powers = lw.const(f"{name}__wpow", (2 ** np.arange(8)).astype(np.int64))
    shifted = lw.add("Div", [column, powers], f"{name}__wshift")
    bits = lw.add("Mod", [shifted, lw.const(f"{name}__two", np.int64(2))], f"{name}__wbits")
    wshape = lw.const(f"{name}__wshape", np.array([out, nbytes * 8]))
    flat = lw.add("Reshape", [bits, wshape], f"{name}__wflat")
    used = lw.add(
        "Slice",
        [
            flat,
            lw.const(f"{name}__wstart", np.array([0])),
            lw.const(f"{name}__wend", np.array([terms])),
            lw.const(f"{name}__waxis", np.array([1])),
        ],
        f"{name}__wused",
    )
    doubled = lw.add("Mul", [used, lw.const(f"{name}__w2", np.int64(2))], f"{name}__wdouble")
    codes = lw.add("Sub", [doubled, lw.const(f"{name}__w1", np.int64(1))], f"{name}__wcodes")
    return lw.add("Transpose", [codes], f"{name}__wt", perm=[1, 0])


def accumulate(lw: Lowering, node: onnx.NodeProto, arithmetic: str, layout: str) -> None:
    """An accumulating layer (``arithmetic`` adder, mac or xnor; ``layout`` window or
    dense): windows as rows (a convolution), the core against the weight, back to NCHW."""
    out = node.output[0]
    if arithmetic == "xnor":
        # ±1 codes: Σ a·w = 2·popcount(xnor(a, w)) − K; padded taps are 0 and add nothing.
        shape = tuple(int(d) for d in node_attr(node, "weight_shape"))
        weight_t = unpacked_weight(lw, node, shape)

        def core(rows: str) -> str:
            return lw.add("MatMul", [rows, weight_t], f"{node.name}__mm")

    else:
        weight = lw.init(node, node.input[1])
        shape = weight.shape
        flat = weight.reshape(weight.shape[0], -1)
        kernel = adder_core if arithmetic == "adder" else mul_core

        def core(rows: str) -> str:
            return kernel(lw, node.name, rows, flat)

    if layout == "dense":
        lw.nodes.append(
            helper.make_node("Identity", [core(node.input[0])], [out], name=f"{node.name}__out")
        )
        return
    group = int(node_attr(node, "group", 1))
    o, per_group, kh, kw = shape
    rows, ho, wo = windows(lw, node, node.input[0], (o, per_group * group, kh, kw))
    if group == 1:
        y = core(rows)  # N, L, O
    elif arithmetic == "adder":
        y = _grouped_adder(lw, node.name, rows, group, flat)
    else:  # mac, or xnor's unpacked ±1 bits: a [Kg, O] matrix split into group blocks
        matrix = weight_t if arithmetic == "xnor" else _matrix(lw, node.name, flat)
        y = _grouped_matmul(lw, node.name, rows, group, o, _blocks(lw, node.name, group, o, matrix))
    nlo = lw.add("Transpose", [y], f"{node.name}__nol", perm=[0, 2, 1])
    lw.nodes.append(
        helper.make_node(
            "Reshape",
            [nlo, lw.const(f"{node.name}__shape4", np.array([0, o, ho, wo]))],
            [out],
            name=f"{node.name}__out",
        )
    )


def _grouped_rows(lw: Lowering, name: str, rows: str, group: int) -> str:
    """Rows ``[N, L, C·kh·kw]`` (C-major) as ``[N, L, group, C/group·kh·kw]``: group ``g``'s
    patch is a contiguous slice, its channels being ``g·C/group ..``."""
    shape = lw.const(f"{name}__gshape", np.array([0, 0, group, -1]))
    return lw.add("Reshape", [rows, shape], f"{name}__grows")


def _grouped_out(lw: Lowering, name: str, y: str, o: int) -> str:
    """``[N, L, group, O/group]`` as ``[N, L, O]``: group ``g``'s outputs at ``g·O/group ..``."""
    return lw.add("Reshape", [y, lw.const(f"{name}__gout", np.array([0, 0, o]))], f"{name}__gy")


def _grouped_adder(lw: Lowering, name: str, rows: str, group: int, flat: np.ndarray) -> str:
    """Each group's rows against its ``O/group`` weight rows: ``-Σ|x - w|`` broadcast over
    the group axis, in int64."""
    per_group = flat.reshape(group, flat.shape[0] // group, -1)  # G, O/G, Kg
    y = adder_core(lw, name, _grouped_rows(lw, name, rows, group), per_group)
    return _grouped_out(lw, name, y, flat.shape[0])


def _matrix(lw: Lowering, name: str, flat: np.ndarray) -> str:
    return lw.const(f"{name}__wt", flat.T.astype(np.int64).copy())


def _blocks(lw: Lowering, name: str, group: int, o: int, matrix: str) -> str:
    """A ``[Kg, O]`` matrix as ``group`` blocks ``[G, Kg, O/group]``."""
    split = lw.add(
        "Reshape",
        [matrix, lw.const(f"{name}__gwshape", np.array([-1, group, o // group]))],
        f"{name}__gwsplit",
    )
    return lw.add("Transpose", [split], f"{name}__gblocks", perm=[1, 0, 2])


def _grouped_matmul(lw: Lowering, name: str, rows: str, group: int, o: int, blocks: str) -> str:
    """Each group's rows times its ``[Kg, O/group]`` block: a batched int64 ``MatMul``,
    exact (a float ``Conv`` with ``group`` would round sums past 2**24 or 2**53)."""
    by_group = lw.add(
        "Transpose", [_grouped_rows(lw, name, rows, group)], f"{name}__gnl", perm=[0, 2, 1, 3]
    )
    mm = lw.add("MatMul", [by_group, blocks], f"{name}__gmm")  # N, G, L, O/G
    y = lw.add("Transpose", [mm], f"{name}__gnlg", perm=[0, 2, 1, 3])
    return _grouped_out(lw, name, y, o)


def cast_back(lw: Lowering, node: onnx.NodeProto, value: str) -> None:
    """The node's output: ``value`` cast to int64 codes."""
    lw.nodes.append(
        helper.make_node(
            "Cast", [value], [node.output[0]], to=TensorProto.INT64, name=f"{node.name}__out"
        )
    )


def per_channel(lw: Lowering, node: onnx.NodeProto, name: str) -> np.ndarray:
    """A per-channel initializer shaped to broadcast over the node's output (axis 1)."""
    rank = len(lw.shapes[node.output[0]])
    return lw.init(node, name).reshape(-1, *([1] * (rank - 2)))
