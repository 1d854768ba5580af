"""Lower adderflow custom ops to standard ONNX so onnxruntime (and Netron) run the IR.

The lowered model needs neither adderflow nor qonnx installed. Each adderflow op becomes a
small standard subgraph that is exact on integer codes, built by the op itself (its
``lower`` in ``sim.ops``, from the shared primitives of ``export.lowering``: windows by a
one-hot float ``Conv``, ``-ReduceSum(Abs(x - w))`` or an int64 ``MatMul`` per accumulating
layer, packed binary weights unpacked in the graph, float64 rescaling that is exact on
codes). The QONNX ``Quant`` input node becomes ``Mul``, ``Round``, ``Clip`` (its definition
for ``signed=1, narrow=0``), so the whole graph is ``ai.onnx`` only.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, shape_inference

from adderflow.errors import ModelFormatError
from adderflow.export.lowering import Lowering
from adderflow.sim.onnx_io import node_attr
from adderflow.sim.ops import DOMAIN, OPS, IntegerOp
from adderflow.sim.view import Node, read_view

QONNX_DOMAIN = "qonnx.custom_op.general"
OPSET = 13


def _quant(lw: Lowering, node: onnx.NodeProto) -> None:
    """QONNX ``Quant`` with ``signed=1, narrow=0``: ``clip(round(x/s), min, max) * s``."""
    if node_attr(node, "signed") != 1 or node_attr(node, "narrow") != 0:
        raise ModelFormatError(f"node '{node.name}': only signed, non-narrow Quant is lowered")
    if node_attr(node, "rounding_mode") != "ROUND":
        raise ModelFormatError(f"node '{node.name}': only rounding_mode ROUND is lowered")
    x, scale, _zeropt, bits_name = node.input
    s = float(lw.init(node, scale))
    bits = int(lw.init(node, bits_name))
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


# The op families in the order the debug flow lowers them (``export.passes``): the
# accumulating layers (windows, then dense; adder, multiplication, binary), the ops giving
# ±1 codes, the pools, the requantizers; then each family's name.
_LAYOUTS = ("window", "dense")
_ARITHMETICS = ("adder", "mac", "xnor")


def _flow_key(cls: type[IntegerOp]) -> tuple:
    if cls.accumulating():
        return (0, _LAYOUTS.index(cls.layout), _ARITHMETICS.index(cls.arithmetic))
    if cls.bipolar_output:
        return (1,)
    if cls.requantizes:
        return (3,)
    return (2, not cls.keeps_bipolar)


def lowerable_ops() -> list[str]:
    """The adderflow ops, in the debug flow's order."""
    return sorted(OPS, key=lambda name: (_flow_key(OPS[name]), name))


LOWERABLE = ("Quant", *lowerable_ops())


def _lower_node(lw: Lowering, node: Node, ops: frozenset[str]) -> None:
    proto = node.proto
    if node.is_adderflow and node.op in OPS and node.op in ops:
        OPS[node.op].concern("lower", node.where())(lw, node)
    elif node.domain == QONNX_DOMAIN and node.op == "Quant" and "Quant" in ops:
        _quant(lw, proto)
    elif node.domain in ("", "ai.onnx") or (
        node.domain in (DOMAIN, QONNX_DOMAIN) and node.op in LOWERABLE
    ):
        lw.nodes.append(proto)
    elif node.domain == DOMAIN:
        raise ModelFormatError(f"node '{proto.name}': no lowering for {node.op}")
    else:
        raise ModelFormatError(f"node '{proto.name}': cannot lower {node.domain}.{node.op}")


def lower_ops(model: onnx.ModelProto, ops: tuple[str, ...] | frozenset[str]) -> onnx.ModelProto:
    """``model`` with only the custom ops named in ``ops`` lowered to standard subgraphs.

    Inputs, outputs, tensor names and the other nodes stay as they are, so a model can be
    lowered one op type at a time and checked in between (``export.passes``).
    """
    lw = Lowering(model)
    for node in read_view(model):
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


# The largest tensor one onnxruntime run may hold: the lowering's adder ops broadcast
# ``x - w`` over every window, output channel and term (ResNet-50 on 8×8 digits: 19 MB a
# sample, so a whole test split at once asked for more memory than the machine has).
CHUNK_BYTES = 256 << 20


def run_onnxruntime(model: onnx.ModelProto, image: np.ndarray) -> dict[str, np.ndarray]:
    """Every output of a lowered model under onnxruntime, keyed by tensor name; the batch
    runs in chunks whose largest tensor stays within ``CHUNK_BYTES``."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    # Graph rewrites could fuse Mul/Round chains; exactness must not depend on them.
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    names = [o.name for o in model.graph.output]
    x = np.asarray(image, np.float32)
    step = max(1, CHUNK_BYTES // largest_sample_bytes(model))
    feed = model.graph.input[0].name
    starts = range(0, len(x), step) if len(x) else [0]
    chunks = [session.run(names, {feed: x[i : i + step]}) for i in starts]
    return {name: np.concatenate([chunk[k] for chunk in chunks]) for k, name in enumerate(names)}


def largest_sample_bytes(model: onnx.ModelProto) -> int:
    """Bytes of the largest tensor per sample (8 per element: int64 and float64 dominate);
    a tensor whose shape inference cannot tell counts as ``CHUNK_BYTES`` (one sample a
    run)."""
    inferred = shape_inference.infer_shapes(model)
    largest = 1
    for info in (*inferred.graph.value_info, *inferred.graph.output):
        dims = info.type.tensor_type.shape.dim[1:]
        if not all(d.HasField("dim_value") for d in dims):
            return CHUNK_BYTES
        largest = max(largest, 8 * int(np.prod([d.dim_value for d in dims])))
    return largest
