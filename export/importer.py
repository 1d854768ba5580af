"""Import a QONNX/ONNX model made elsewhere: its layers, which can take the adder path, and
what they cost.

``import_model(path)`` reads any ONNX file (a brevitas ``export_qonnx`` CNN, a plain
``torch.onnx.export``, a QDQ model, adderflow's own IR), tidies it the way qonnx's
``cleanup`` does (shape inference, constant folding that keeps the quantizers, transposes
folded into quantized weights; node names are kept so the report speaks the user's names),
and walks its accumulating layers (``Conv``, ``Gemm``, ``MatMul``, qonnx's
``XnorPopcountMatMul`` and adderflow's own). A layer whose operands are both ±1 (two
``BipolarQuant``s, ``BIPOLAR`` annotations, or XnorPopcountMatMul's {0, 1} bits) is a
binary layer, costed as XNOR + popcount.

For each layer it reads, from the quantizers feeding it (QONNX ``Quant``/``BipolarQuant``/
``Trunc``, ONNX ``DequantizeLinear``, through shape-only ops, ReLU and max pooling), the
weight and activation bit widths and whether their scales are powers of two, and decides
whether the layer can become an adder layer on adderflow's hardware path:

* a 2-D convolution without groups or dilation, or a dense layer with a constant weight;
* quantized operands 2..16 bits wide with power-of-two scales and zero point 0 (a float
  layer is eligible: adderflow's own quantizer picks power-of-two scales), or both float;
* not the first or the last layer: those stay multiplication layers by default, as
  ``adderflow.nn.swap`` keeps them (DESIGN.md rule 7).

Every layer is costed by the energy model (``adderflow.sim.cost.estimate``) on the tidied
graph; operands of a quantized layer are costed at their quantized integer widths.

Errors (each names the file and the node): a missing or non-ONNX file, an input nothing
defines (a missing initializer), an op adderflow cannot read, a quantizer whose bit width
is not a constant positive integer. ``strict=True`` also refuses what the hardware path
cannot take: a quantized layer operand outside 2..16 bits or with a scale that is not a
power of two. Without it those layers are reported as ineligible, since QONNX legitimately
carries wide quantizers (32-bit biases, accumulators) a model need not put in hardware.

Torch-free: a hardware engineer can import and cost a model without PyTorch.
"""

from __future__ import annotations

from pathlib import Path

import onnx
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from adderflow.errors import AdderflowError, ModelFormatError, QuantizationError
from adderflow.export.import_quantizers import (
    ACT_TRANSPARENT,
    QONNX_DOMAIN,
    QONNX_DOMAINS,
    QUANTIZERS,
    WEIGHT_TRANSPARENT,
    _annotated,
    _bipolar,
    _constant,
    _feeding_quantizer,
    _input,
    _shape,
    clip_ranges,
    read_quantizer,
)
from adderflow.export.import_report import (  # noqa: F401  (the importer's public names)
    HARDWARE,
    HARDWARE_WORDS,
    ImportedLayer,
    ImportReport,
    Quantizer,
    write_json,
)
from adderflow.fixed import MAX_BITS, MIN_BITS
from adderflow.sim.cost import DEFAULT_MEMORY, estimate
from adderflow.sim.energy import EnergyTable
from adderflow.sim.executor import check_contract, check_supported
from adderflow.sim.onnx_io import STANDARD_DOMAINS, node_attr, one_line, read_onnx
from adderflow.sim.ops import DOMAIN, OPS

LAYER_OPS = ("Conv", "Gemm", "MatMul")
# qonnx's own binary layer (FINN's ConvertBipolarMatMulToXnorPopcount makes it): {0, 1}
# operands standing for ±1, its output the popcount of their XNOR.
QONNX_LAYERS = ("XnorPopcountMatMul",)
# The IR's accumulating layers, from the op traits.
ADDERFLOW_LAYERS = tuple(name for name, cls in OPS.items() if cls.accumulating())
RULE_7 = "kept as a multiplication layer (DESIGN.md rule 7)"


# --------------------------------------------------------------------------- loading


def load_foreign(path: str | Path) -> ModelWrapper:
    """Read ``path`` and tidy it for the walk, with one clear error when that is impossible."""
    where = f"model file {path}"
    model = read_onnx(path)  # missing/broken file, missing initializer, non-ONNX op
    if any(node.domain == DOMAIN for node in model.graph.node):
        # adderflow's own IR: the one load check every backend and `verify` run (rule 9).
        try:
            check_supported(model)
            check_contract(model)
        except AdderflowError as exc:
            raise type(exc)(f"{where}: {exc}") from exc
    _name_nodes(model)
    for node in model.graph.node:  # qonnx cleanup's domain fix (older brevitas exports)
        if node.op_type in QUANTIZERS and node.domain not in (*QONNX_DOMAINS, DOMAIN):
            node.domain = QONNX_DOMAIN
    _check_ops(model, where)
    ranges = clip_ranges(model)
    wrapper = ModelWrapper(model)
    from qonnx.transformation.fold_constants import FoldConstants
    from qonnx.transformation.general import (
        GiveUniqueParameterTensors,
        RemoveStaticGraphInputs,
        RemoveUnusedTensors,
    )
    from qonnx.transformation.infer_datatypes import InferDataTypes
    from qonnx.transformation.infer_shapes import InferShapes
    from qonnx.transformation.quant_constant_folding import FoldTransposeIntoQuantInit

    keep = [*QUANTIZERS, "QuantizeLinear", "DequantizeLinear"]
    # qonnx.util.cleanup.cleanup_model without its renaming passes (the report speaks the
    # user's node names), then datatype inference.
    passes = [
        InferShapes(),
        GiveUniqueParameterTensors(),
        FoldConstants(exclude_op_types=keep),
        FoldTransposeIntoQuantInit(),
        RemoveUnusedTensors(),
        RemoveStaticGraphInputs(),
        InferShapes(),
        InferDataTypes(),
    ]
    for transformation in passes:
        try:
            wrapper = wrapper.transform(transformation)
        except AdderflowError:
            raise
        except Exception as exc:  # qonnx raises anything from deep inside an op
            raise ModelFormatError(
                f"{where}: qonnx {type(transformation).__name__} failed: {one_line(exc)}"
            ) from exc
    wrapper.clip_ranges = ranges  # read_quantizer's QCDQ widths (node names are kept)
    return wrapper


def _name_nodes(model: onnx.ModelProto) -> None:
    """Every node gets a unique name (its first output when unnamed), as the cost model and
    the report key layers by name."""
    seen: set[str] = set()
    for node in model.graph.node:
        name = node.name or (node.output[0] if node.output else node.op_type)
        unique, i = name, 1
        while unique in seen:
            unique, i = f"{name}_{i}", i + 1
        node.name = unique
        seen.add(unique)


def _check_ops(model: onnx.ModelProto, where: str) -> None:
    from qonnx.custom_op.registry import get_supported_versions

    for node in model.graph.node:
        if node.domain in STANDARD_DOMAINS:
            continue  # read_onnx refused non-standard ops here
        known = False
        if node.domain == DOMAIN:
            known = node.op_type in OPS
        elif node.domain in QONNX_DOMAINS:
            try:
                known = bool(get_supported_versions(node.domain, node.op_type))
            except Exception:  # KeyError, or an import error while qonnx looks it up
                known = False
        if not known:
            raise ModelFormatError(
                f"{where}: node '{node.name}': op '{node.domain}.{node.op_type}' is not "
                "supported (adderflow imports standard ONNX ops, qonnx's ops such as Quant, "
                "BipolarQuant and Trunc, and its own adderflow ops)"
            )


# --------------------------------------------------------------------------- eligibility


def _structure(node: onnx.NodeProto, weight_shape: tuple[int, ...] | None) -> list[str]:
    """Why the layer's geometry keeps it off the adder path (empty when it does not)."""
    reasons = []
    if node.op_type == "Conv":
        kernel = node_attr(node, "kernel_shape", None) or (
            list(weight_shape[2:]) if weight_shape else []
        )
        if len(kernel) != 2:
            reasons.append(f"{len(kernel)}-D convolution (the adder path takes 2-D ones)")
        group = node_attr(node, "group", 1)
        if group != 1:
            kind = "depthwise" if weight_shape and weight_shape[1] == 1 else "grouped"
            reasons.append(f"{kind} convolution (group={group}): the adder path has no groups")
        dilations = node_attr(node, "dilations", None) or []
        if any(d != 1 for d in dilations):
            reasons.append(f"dilated convolution (dilations={list(dilations)})")
        if node_attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            reasons.append(f"auto_pad={node_attr(node, 'auto_pad')} (explicit pads only)")
    elif node.op_type == "Gemm" and node_attr(node, "transA", 0):
        reasons.append("Gemm with transA=1")
    elif node.op_type == "MatMul" and weight_shape is not None and len(weight_shape) != 2:
        reasons.append(f"batched MatMul (weight of rank {len(weight_shape)})")
    return reasons


def _quant_reasons(layer: ImportedLayer, strict: bool, where: str) -> tuple[list[str], list[str]]:
    """(reasons, notes) from the operands' quantization; ``strict`` raises instead."""
    reasons, notes = [], []
    operands = (("weight", layer.weight), ("input", layer.activation))
    if layer.weight is None and layer.activation is None:
        return reasons, ["float: needs power-of-two quantization first"]
    for role, q in operands:
        if q is None:
            reasons.append(
                f"{role} not quantized (an adder layer subtracts input and weight on one "
                "fixed-point scale)"
            )
            continue
        what = f"{where}: layer '{layer.name}': {role} quantizer '{q.node}' ({q.op})"
        if q.binary:
            reasons.append(f"binary {role} ({q.op}): an XNOR layer, not an adder layer")
            continue
        if not MIN_BITS <= q.bits <= MAX_BITS:
            if strict:
                raise QuantizationError(
                    f"{what}: bit width {q.bits} is outside the supported range "
                    f"{MIN_BITS}..{MAX_BITS}"
                )
            reasons.append(f"{role} bit width {q.bits} outside {MIN_BITS}..{MAX_BITS}")
        if q.scale_pow2 is False:
            if strict:
                raise QuantizationError(
                    f"{what}: scale {q.scale:g} is not a power of two; the hardware path "
                    "needs fixed<b, f> scales 2**-f"
                )
            reasons.append(f"{role} scale {q.scale:g} is not a power of two")
        elif q.scale_pow2 is None:
            reasons.append(f"{role} scale is computed at run time")
        if not q.zero_point_zero:
            reasons.append(f"{role} zero point is not 0 (the contract is symmetric)")
    return reasons, notes


# --------------------------------------------------------------------------- the import


def import_model(
    path: str | Path,
    *,
    keep_first: bool = True,
    keep_last: bool = True,
    strict: bool = False,
    table: EnergyTable | None = None,
    memory: str = DEFAULT_MEMORY,
) -> ImportReport:
    """Read ``path``, report its accumulating layers and cost them (see the module doc)."""
    wrapper, nodes, layers = _analyse(path, keep_first, keep_last, strict)
    cost = estimate(_costing_model(wrapper, nodes, layers), "ann", table=table, memory=memory)
    by_name = {item.node: item for item in cost.layers}
    for layer in layers:
        counted = by_name.get(layer.name)
        if counted is not None:
            layer.counted = True
            layer.mults, layer.adds = counted.count("mul"), counted.count("add")
            layer.xnors = counted.count("xnor")
            layer.energy_pj = counted.energy_pj
    return ImportReport(str(path), layers, cost, keep_first, keep_last)


def costing_model(path: str | Path) -> onnx.ModelProto:
    """The model ``adderflow energy`` and ``adderflow import`` both price: read with the same
    checks (every quantizer's width; the IR's load check), tidied (shapes of qonnx ops
    known), its quantized layers' operands annotated with their integer widths. One cost
    path, so the two commands give one answer for one file."""
    wrapper, nodes, layers = _analyse(path, True, True, False)
    return _costing_model(wrapper, nodes, layers)


def _analyse(
    path: str | Path, keep_first: bool, keep_last: bool, strict: bool
) -> tuple[ModelWrapper, list[onnx.NodeProto], list[ImportedLayer]]:
    where = f"model file {path}"
    wrapper = load_foreign(path)
    quantizers = {
        node.name: read_quantizer(wrapper, node, where)
        for node in wrapper.graph.node
        if node.op_type in QUANTIZERS or node.op_type == "DequantizeLinear"
    }
    nodes = [
        node
        for node in wrapper.graph.node
        if (node.domain in STANDARD_DOMAINS and node.op_type in LAYER_OPS)
        or (node.domain == DOMAIN and node.op_type in ADDERFLOW_LAYERS)
        or (node.domain in QONNX_DOMAINS and node.op_type in QONNX_LAYERS)
    ]
    layers = []
    for index, node in enumerate(nodes):
        layer = _layer(wrapper, node, quantizers, strict, where)
        if layer.hardware == "mult":  # binary and adder layers are already off multiplication
            if index == 0 and keep_first:
                layer.reasons.append(f"first layer: {RULE_7}")
            elif index == len(nodes) - 1 and keep_last:
                layer.reasons.append(f"last layer: {RULE_7}")
        layer.eligible = not layer.reasons
        layers.append(layer)
    return wrapper, nodes, layers


def _arithmetic(node: onnx.NodeProto) -> str:
    """An adderflow layer's arithmetic trait (adder, mac, xnor); "" for any other node."""
    cls = OPS.get(node.op_type) if node.domain == DOMAIN else None
    return cls.arithmetic if cls is not None else ""


def _layer(
    wrapper: ModelWrapper,
    node: onnx.NodeProto,
    quantizers: dict[str, Quantizer],
    strict: bool,
    where: str,
) -> ImportedLayer:
    x, w = node.input[0], _input(node, 1)
    out = _shape(wrapper, node.output[0])
    layer = ImportedLayer(
        name=node.name,
        op=node.op_type,
        weight_shape=_shape(wrapper, w),
        output_shape=out[1:] if out else None,
        weight=None,
        activation=None,
    )
    if node.domain in QONNX_DOMAINS:  # XnorPopcountMatMul: {0, 1} bits standing for ±1
        layer.hardware = "binary"
        layer.weight, layer.activation = _bipolar("BINARY"), _bipolar("BINARY")
        layer.reasons.append("binary layer (qonnx XnorPopcountMatMul): XNOR + popcount")
        return layer
    if node.domain == DOMAIN:  # adderflow's own IR: integer codes, power-of-two scales
        if _arithmetic(node) == "xnor":  # ±1 codes, weights packed as bits
            layer.hardware = "binary"
            shape = node_attr(node, "weight_shape", None)
            layer.weight_shape = tuple(int(d) for d in shape) if shape else None
            layer.weight, layer.activation = _bipolar(), _bipolar()
            layer.reasons.append("binary layer: XNOR + popcount on packed bits in hardware")
            return layer
        layer.weight, layer.activation = _annotated(wrapper, w), _annotated(wrapper, x)
        if _arithmetic(node) == "adder":
            layer.hardware = "adder"
            layer.notes.append("already an adder layer")
        return layer
    found = {
        role: _feeding_quantizer(wrapper, name, transparent)
        for role, name, transparent in (
            ("weight", w, WEIGHT_TRANSPARENT),
            ("activation", x, ACT_TRANSPARENT),
        )
    }
    layer.weight = quantizers[found["weight"].name] if found["weight"] is not None else None
    layer.activation = (
        quantizers[found["activation"].name] if found["activation"] is not None else None
    )
    # A FINN-style bipolar layer has no quantizer: its operands are annotated BIPOLAR.
    if layer.weight is None and _annotated_bipolar(wrapper, w):
        layer.weight = _bipolar()
    if layer.activation is None and _annotated_bipolar(wrapper, x):
        layer.activation = _bipolar()
    if layer.weight is not None and layer.activation is not None:
        if layer.weight.binary and layer.activation.binary:
            layer.hardware = "binary"  # both operands ±1: an XNOR layer as it stands
    layer.reasons += _structure(node, layer.weight_shape)
    if not _constant(wrapper, w):
        layer.reasons.append("no constant weight (a product of two activations)")
    reasons, notes = _quant_reasons(layer, strict, where)
    layer.reasons += reasons
    layer.notes += notes
    return layer


def _annotated_bipolar(wrapper: ModelWrapper, name: str) -> bool:
    return bool(name) and wrapper.get_tensor_datatype(name) == DataType["BIPOLAR"]


def _datatype(q: Quantizer) -> DataType | None:
    if q.op == "BINARY":
        return DataType["BINARY"]
    if q.binary:
        return DataType["BIPOLAR"]
    if not 1 <= q.bits <= 64 or (q.signed and q.bits < 2):
        return None
    return DataType[f"{'INT' if q.signed else 'UINT'}{q.bits}"]


def _costing_model(
    wrapper: ModelWrapper, nodes: list[onnx.NodeProto], layers: list[ImportedLayer]
) -> onnx.ModelProto:
    """A copy whose quantized layer operands carry their integer datatypes, so the cost
    model prices int8 × int4 arithmetic rather than the float the tensors are stored in."""
    copy = ModelWrapper(onnx.ModelProto.FromString(wrapper.model.SerializeToString()))
    for node, layer in zip(nodes, layers, strict=True):
        if node.domain not in STANDARD_DOMAINS:
            continue
        for name, q in ((node.input[0], layer.activation), (_input(node, 1), layer.weight)):
            if q is None or not name:
                continue
            current = copy.get_tensor_datatype(name)
            datatype = _datatype(q)
            if datatype is not None and (current is None or not current.is_integer()):
                copy.set_tensor_datatype(name, datatype)
    return copy.model
