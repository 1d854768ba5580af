"""Lower adderflow custom ops to standard ONNX so onnxruntime (and Netron) run the IR.

The lowered model needs neither adderflow nor qonnx installed. Each custom op becomes a
small standard subgraph that is exact on integer codes:

- windows are extracted by a float ``Conv`` with one-hot kernels (copying a code is
  exact in float32 up to 2**24, far above the contract's 16-bit codes), then cast back;
- ``AdderConv``/``AdderGemm``: ``-ReduceSum(Abs(x - w))`` in int64;
- ``IntConv``/``IntGemm``: int64 ``MatMul``;
- ``XnorConv``/``XnorGemm``: the packed uint8 weight stays packed in the model and is
  unpacked in the graph (integer ``Div``/``Mod`` by powers of two, ``2·bit − 1``), then
  an int64 ``MatMul`` with the ±1 codes: ``Σ a·w = 2·popcount(xnor(a, w)) − K``, padded
  taps 0 (they do not vote);
- ``BinaryThreshold``: ``Where(acc·direction >= threshold, 1, -1)`` in int64;
- ``Requant``: ``acc*M + B`` in int64, then float64 ``Mul`` by ``2**-s`` (exact),
  ``Round`` (half to even, as the contract), ``Clip``, cast back — exact because
  ``fixed.fit_requant`` keeps ``|acc*M + B| < 2**53``;
- ``IntMaxPool``: float64 ``MaxPool`` on codes (exact), cast back;
- ``IntAvgPool``: int64 window sums (``Slice``, ``Reshape`` into blocks, ``ReduceSum``),
  float64 ``Mul`` by ``1/(k·k)`` (a power of two: exact), ``Round`` (half to even), cast
  back;
- the QONNX ``Quant`` input node becomes ``Mul``, ``Round``, ``Clip`` (its definition for
  ``signed=1, narrow=0``), so the whole graph is ``ai.onnx`` only.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from adderflow.errors import ModelFormatError
from adderflow.fixed import avg_pool_shift
from adderflow.sim.onnx_io import node_attr
from adderflow.sim.ops import DOMAIN

QONNX_DOMAIN = "qonnx.custom_op.general"
OPSET = 13


class _Lowering:
    """Collects the replacement nodes and constants while walking the custom graph."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        self.shapes = {
            vi.name: [d.dim_value for d in vi.type.tensor_type.shape.dim]
            for vi in [*model.graph.input, *model.graph.value_info, *model.graph.output]
        }
        self.nodes: list[onnx.NodeProto] = []
        self.new_inits: list[TensorProto] = []

    def const(self, name: str, value: np.ndarray) -> str:
        self.new_inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def add(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        self.nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output


def _windows(
    lw: _Lowering, node: onnx.NodeProto, x: str, weight_shape: tuple[int, ...]
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
        strides=list(node_attr(node, "strides")),
        pads=list(node_attr(node, "pads")),
    )
    n, o, ho, wo = lw.shapes[node.output[0]]
    flat = lw.add(
        "Reshape", [cols, lw.const(f"{name}__shape3", np.array([0, k, -1]))], f"{name}__flat"
    )
    rows = lw.add("Transpose", [flat], f"{name}__rows", perm=[0, 2, 1])  # N, L, K
    return lw.add("Cast", [rows], f"{name}__rows_i", to=TensorProto.INT64), ho, wo


def _adder_core(lw: _Lowering, name: str, rows: str, weight: np.ndarray) -> str:
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


def _mul_core(lw: _Lowering, name: str, rows: str, weight: np.ndarray) -> str:
    return lw.add(
        "MatMul", [rows, lw.const(f"{name}__wt", weight.T.astype(np.int64).copy())], f"{name}__mm"
    )


def _unpacked_weight(lw: _Lowering, node: onnx.NodeProto, shape: tuple[int, ...]) -> str:
    """A binary layer's packed uint8 weight ``[O, B]`` unpacked in the graph to the int64
    ±1 matrix ``[K, O]``: bit ``j`` of a byte is ``(byte / 2**j) mod 2`` (integer ``Div``,
    ``Mod``), least significant first, the tail past ``K`` sliced off, then ``2·bit − 1``."""
    name = node.name
    out, terms = shape[0], int(np.prod(shape[1:]))
    nbytes = lw.inits[node.input[1]].shape[1]
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


def _accumulate(lw: _Lowering, node: onnx.NodeProto) -> None:
    out = node.output[0]
    if node.op_type.startswith("Xnor"):
        # ±1 codes: Σ a·w = 2·popcount(xnor(a, w)) − K; padded taps are 0 and add nothing.
        shape = tuple(int(d) for d in node_attr(node, "weight_shape"))
        weight_t = _unpacked_weight(lw, node, shape)

        def core(rows: str) -> str:
            return lw.add("MatMul", [rows, weight_t], f"{node.name}__mm")

    else:
        weight = lw.inits[node.input[1]]
        shape = weight.shape
        flat = weight.reshape(weight.shape[0], -1)
        kernel = _adder_core if node.op_type.startswith("Adder") else _mul_core

        def core(rows: str) -> str:
            return kernel(lw, node.name, rows, flat)

    if node.op_type.endswith("Gemm"):
        lw.nodes.append(
            helper.make_node("Identity", [core(node.input[0])], [out], name=f"{node.name}__out")
        )
        return
    rows, ho, wo = _windows(lw, node, node.input[0], shape)
    y = core(rows)  # N, L, O
    nlo = lw.add("Transpose", [y], f"{node.name}__nol", perm=[0, 2, 1])
    lw.nodes.append(
        helper.make_node(
            "Reshape",
            [nlo, lw.const(f"{node.name}__shape4", np.array([0, shape[0], ho, wo]))],
            [out],
            name=f"{node.name}__out",
        )
    )


def _binary_threshold(lw: _Lowering, node: onnx.NodeProto) -> None:
    """``Where(acc·direction >= threshold, 1, -1)`` in int64 (``GreaterOrEqual``, opset 12)."""
    acc, threshold, direction = node.input
    name = node.name
    rank = len(lw.shapes[node.output[0]])
    t = lw.inits[threshold].astype(np.int64).reshape(-1, *([1] * (rank - 2)))
    d = lw.inits[direction].astype(np.int64).reshape(-1, *([1] * (rank - 2)))
    signed = lw.add("Mul", [acc, lw.const(f"{name}__d", d)], f"{name}__signed")
    above = lw.add("GreaterOrEqual", [signed, lw.const(f"{name}__t", t)], f"{name}__ge")
    lw.nodes.append(
        helper.make_node(
            "Where",
            [
                above,
                lw.const(f"{name}__plus", np.int64(1)),
                lw.const(f"{name}__minus", np.int64(-1)),
            ],
            [node.output[0]],
            name=f"{name}__out",
        )
    )


def _requant(lw: _Lowering, node: onnx.NodeProto) -> None:
    acc, m, b = node.input
    name = node.name
    rank = len(lw.shapes[node.output[0]])
    m_b = lw.inits[m].reshape(-1, *([1] * (rank - 2)))  # broadcast over channels (axis 1)
    b_b = lw.inits[b].reshape(-1, *([1] * (rank - 2)))
    v = lw.add(
        "Add",
        [
            lw.add("Mul", [acc, lw.const(f"{name}__m", m_b)], f"{name}__am"),
            lw.const(f"{name}__b", b_b),
        ],
        f"{name}__v",
    )
    vf = lw.add("Cast", [v], f"{name}__vf", to=TensorProto.DOUBLE)
    scale = lw.const(f"{name}__scale", np.float64(2.0 ** -node_attr(node, "shift")))
    rounded = lw.add("Round", [lw.add("Mul", [vf, scale], f"{name}__scaled")], f"{name}__round")
    bits = node_attr(node, "out_bits")
    lo = 0.0 if node_attr(node, "relu", 0) else -(2.0 ** (bits - 1))
    clipped = lw.add(
        "Clip",
        [
            rounded,
            lw.const(f"{name}__lo", np.float64(lo)),
            lw.const(f"{name}__hi", np.float64(2.0 ** (bits - 1) - 1)),
        ],
        f"{name}__clip",
    )
    lw.nodes.append(
        helper.make_node(
            "Cast", [clipped], [node.output[0]], to=TensorProto.INT64, name=f"{name}__out"
        )
    )


def _max_pool(lw: _Lowering, node: onnx.NodeProto) -> None:
    xf = lw.add("Cast", [node.input[0]], f"{node.name}__xf", to=TensorProto.DOUBLE)
    pooled = lw.add(
        "MaxPool",
        [xf],
        f"{node.name}__pool",
        kernel_shape=list(node_attr(node, "kernel_shape")),
        strides=list(node_attr(node, "strides")),
    )
    lw.nodes.append(
        helper.make_node(
            "Cast", [pooled], [node.output[0]], to=TensorProto.INT64, name=f"{node.name}__out"
        )
    )


def _avg_pool(lw: _Lowering, node: onnx.NodeProto) -> None:
    """Window sums in int64 (crop to whole windows, reshape into ``k x k`` blocks,
    ``ReduceSum``), then float64 ``Mul`` by ``2**-log2(k·k)`` (exact), ``Round`` (half to
    even), cast back. onnxruntime's ``AveragePool`` has no int64 or float64 kernel and
    float32 is exact only while the sum stays below ``2**24``; this is exact for any width."""
    name, k = node.name, int(node_attr(node, "kernel_shape")[0])
    shift = avg_pool_shift(
        node_attr(node, "kernel_shape"), node_attr(node, "strides"), f"node '{name}' (IntAvgPool)"
    )
    _, c, oh, ow = lw.shapes[node.output[0]]
    crop = lw.add(
        "Slice",
        [
            node.input[0],
            lw.const(f"{name}__starts", np.array([0, 0])),
            lw.const(f"{name}__ends", np.array([oh * k, ow * k])),
            lw.const(f"{name}__axes", np.array([2, 3])),
        ],
        f"{name}__crop",
    )
    blocks = lw.add(
        "Reshape", [crop, lw.const(f"{name}__blocks_shape", np.array([0, c, oh, k, ow, k]))],
        f"{name}__blocks",
    )  # fmt: skip
    total = lw.add(
        "ReduceSum", [blocks, lw.const(f"{name}__axkk", np.array([3, 5]))], f"{name}__sum",
        keepdims=0,
    )  # fmt: skip
    sf = lw.add("Cast", [total], f"{name}__sumf", to=TensorProto.DOUBLE)
    scale = lw.const(f"{name}__scale", np.float64(2.0**-shift))
    rounded = lw.add("Round", [lw.add("Mul", [sf, scale], f"{name}__mean")], f"{name}__round")
    lw.nodes.append(
        helper.make_node(
            "Cast", [rounded], [node.output[0]], to=TensorProto.INT64, name=f"{name}__out"
        )
    )


def _quant(lw: _Lowering, node: onnx.NodeProto) -> None:
    """QONNX ``Quant`` with ``signed=1, narrow=0``: ``clip(round(x/s), min, max) * s``."""
    if node_attr(node, "signed") != 1 or node_attr(node, "narrow") != 0:
        raise ModelFormatError(f"node '{node.name}': only signed, non-narrow Quant is lowered")
    if node_attr(node, "rounding_mode") != "ROUND":
        raise ModelFormatError(f"node '{node.name}': only rounding_mode ROUND is lowered")
    x, scale, _zeropt, bits_name = node.input
    s = float(lw.inits[scale])
    bits = int(lw.inits[bits_name])
    name = node.name
    q = lw.add(
        "Round",
        [lw.add("Mul", [x, lw.const(f"{name}__inv", np.float32(1.0 / s))], f"{name}__div")],
        f"{name}__round",
    )
    lo, hi = np.float32(-(2.0 ** (bits - 1))), np.float32(2.0 ** (bits - 1) - 1)
    c = lw.add(
        "Clip", [q, lw.const(f"{name}__lo", lo), lw.const(f"{name}__hi", hi)], f"{name}__clip"
    )
    lw.nodes.append(
        helper.make_node(
            "Mul", [c, lw.const(f"{name}__s", np.float32(s))], [node.output[0]], name=f"{name}__out"
        )
    )


_LOWER = {
    "AdderConv": _accumulate,
    "IntConv": _accumulate,
    "XnorConv": _accumulate,
    "AdderGemm": _accumulate,
    "IntGemm": _accumulate,
    "XnorGemm": _accumulate,
    "BinaryThreshold": _binary_threshold,
    "Requant": _requant,
    "IntMaxPool": _max_pool,
    "IntAvgPool": _avg_pool,
}


LOWERABLE = (*_LOWER, "Quant")


def _lower_node(lw: _Lowering, node: onnx.NodeProto, ops: frozenset[str]) -> None:
    if node.domain == DOMAIN and node.op_type in ops:
        _LOWER[node.op_type](lw, node)
    elif node.domain == QONNX_DOMAIN and node.op_type == "Quant" and "Quant" in ops:
        _quant(lw, node)
    elif node.domain in ("", "ai.onnx") or (
        node.domain in (DOMAIN, QONNX_DOMAIN) and node.op_type in LOWERABLE
    ):
        lw.nodes.append(node)
    elif node.domain == DOMAIN:
        raise ModelFormatError(f"node '{node.name}': no lowering for {node.op_type}")
    else:
        raise ModelFormatError(f"node '{node.name}': cannot lower {node.domain}.{node.op_type}")


def lower_ops(model: onnx.ModelProto, ops: tuple[str, ...] | frozenset[str]) -> onnx.ModelProto:
    """``model`` with only the custom ops named in ``ops`` lowered to standard subgraphs.

    Inputs, outputs, tensor names and the other nodes stay as they are, so a model can be
    lowered one op type at a time and checked in between (``export.passes``).
    """
    lw = _Lowering(model)
    for node in model.graph.node:
        _lower_node(lw, node, frozenset(ops))
    used = {name for node in lw.nodes for name in node.input}
    graph = model.graph
    inits = [t for t in graph.initializer if t.name in used] + lw.new_inits
    produced = {name for node in lw.nodes for name in node.output}
    value_info = [vi for vi in graph.value_info if vi.name in produced]
    new_graph = helper.make_graph(
        lw.nodes, graph.name, list(graph.input), list(graph.output), inits, value_info=value_info
    )
    lowered = helper.make_model(new_graph, producer_name="adderflow")
    lowered.ClearField("opset_import")
    lowered.opset_import.extend(model.opset_import)
    lowered.ir_version = model.ir_version
    return _infer_shapes(lowered)


def _infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    """Shapes of the new intermediate tensors (qonnx knows our custom ops' shapes; a fully
    lowered graph needs only ONNX's own inference, ten times faster)."""
    if all(node.domain in ("", "ai.onnx") for node in model.graph.node):
        return onnx.shape_inference.infer_shapes(model)
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.transformation.infer_shapes import InferShapes

    import adderflow.sim.ops  # noqa: F401  (registers the custom ops with qonnx)

    return ModelWrapper(model).transform(InferShapes()).model


def lower_to_standard_onnx(
    model: onnx.ModelProto,
    expose_layers: bool = False,
    debug_x: np.ndarray | None = None,
    log=None,
) -> onnx.ModelProto:
    """A standard-ONNX (``ai.onnx`` only) model computing the same integer codes.

    ``expose_layers`` also makes every layer's ``_acc``/``_out`` tensor a graph output, so
    onnxruntime can be compared with the reference layer by layer. ``debug_x`` lowers one
    op family at a time and checks the codes on it after each (``export.passes``).
    """
    if debug_x is None:
        return standard_model(lower_ops(model, LOWERABLE), expose_layers)
    from adderflow.export.passes import run_passes, standard_flow

    return standard_model(run_passes(model, standard_flow(), debug_x, log), expose_layers)


def standard_model(model: onnx.ModelProto, expose_layers: bool = False) -> onnx.ModelProto:
    """A fully lowered graph as a checked ``ai.onnx``-only model with a free batch size."""
    graph = model.graph
    for node in graph.node:
        if node.domain not in ("", "ai.onnx"):
            raise ModelFormatError(f"node '{node.name}': {node.op_type} is still not lowered")
    outputs = list(graph.output)
    if expose_layers:
        final = outputs[0].name
        outputs += [
            vi
            for vi in graph.value_info
            if vi.name != final and vi.name.endswith(("_acc", "_out", "_codes"))
        ]
    new_graph = helper.make_graph(
        list(graph.node),
        graph.name + "_standard",
        [_free_batch(graph.input[0])],
        [_free_batch(vi) for vi in outputs],
        list(graph.initializer),
    )
    lowered = helper.make_model(
        new_graph, producer_name="adderflow", opset_imports=[helper.make_opsetid("", OPSET)]
    )
    lowered.ir_version = model.ir_version
    onnx.checker.check_model(lowered)
    return lowered


def _free_batch(vi: onnx.ValueInfoProto) -> onnx.ValueInfoProto:
    """The same value info with a symbolic batch dimension, so any batch size runs."""
    dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    return helper.make_tensor_value_info(
        vi.name, vi.type.tensor_type.elem_type, ["batch", *dims[1:]]
    )


def run_onnxruntime(model: onnx.ModelProto, image: np.ndarray) -> dict[str, np.ndarray]:
    """Every output of a lowered model under onnxruntime, keyed by tensor name."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    # Graph rewrites could fuse Mul/Round chains; exactness must not depend on them.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in model.graph.output]
    outs = session.run(names, {model.graph.input[0].name: np.asarray(image, np.float32)})
    return dict(zip(names, outs, strict=True))
