"""Import a QONNX/ONNX model made elsewhere: its layers, which can take the adder path, and
what they cost.

``import_model(path)`` reads any ONNX file (a brevitas ``export_qonnx`` CNN, a plain
``torch.onnx.export``, a QDQ model, adderflow's own IR), tidies it the way qonnx's
``cleanup`` does (shape inference, constant folding that keeps the quantizers, transposes
folded into quantized weights; node names are kept so the report speaks the user's names),
and walks its accumulating layers (``Conv``, ``Gemm``, ``MatMul`` and adderflow's own).

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

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper
from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper

from adderflow.errors import AdderflowError, ModelFormatError, QuantizationError
from adderflow.fixed import MAX_BITS, MIN_BITS, code_bits
from adderflow.sim.cost import DEFAULT_MEMORY, CostResult, align, estimate, fmt_pj
from adderflow.sim.energy import EnergyTable
from adderflow.sim.executor import check_contract, check_supported, power_of_two
from adderflow.sim.onnx_io import STANDARD_DOMAINS, node_attr, one_line, read_onnx
from adderflow.sim.ops import DOMAIN, OPS

QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general")
QONNX_DOMAIN = QONNX_DOMAINS[0]
QUANTIZERS = ("Quant", "BipolarQuant", "Trunc")
LAYER_OPS = ("Conv", "Gemm", "MatMul")
ADDERFLOW_LAYERS = ("AdderConv", "AdderGemm", "IntConv", "IntGemm", "XnorConv", "XnorGemm")
# What a layer is in hardware, as the report states it (issue #4): XNOR + popcount on bits,
# |x - w| accumulate, or multiply-accumulate.
HARDWARE = ("binary", "adder", "mult")
HARDWARE_WORDS = {
    "binary": "binary (XNOR + popcount)",
    "adder": "adder",
    "mult": "multiplication",
}
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


@dataclass(frozen=True)
class Quantizer:
    """What one quantizer says about the tensor it feeds a layer with."""

    node: str
    op: str
    bits: int
    signed: bool
    scale: float | None  # the (first) scale; None when computed at run time
    scale_pow2: bool | None  # every scale a power of two; None when computed at run time
    per_channel: bool
    zero_point_zero: bool

    @property
    def binary(self) -> bool:
        """A bipolar quantizer, or an adderflow binary layer's ±1 operand (``BIPOLAR``)."""
        return self.op in ("BipolarQuant", "BIPOLAR")

    def label(self) -> str:
        """Bits as the table shows them: ``8``, ``u8`` (unsigned), ``bin`` (bipolar)."""
        if self.binary:
            return "bin"
        return f"{'' if self.signed else 'u'}{self.bits}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "op": self.op,
            "bits": self.bits,
            "signed": self.signed,
            "scale": self.scale,
            "scale_pow2": self.scale_pow2,
            "per_channel": self.per_channel,
            "zero_point_zero": self.zero_point_zero,
        }


@dataclass
class ImportedLayer:
    """One accumulating layer: what it is, how it is quantized, where it can go, its cost."""

    name: str
    op: str
    weight_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None  # per image (batch dimension dropped)
    weight: Quantizer | None  # None: float (or an adderflow op's plain integer operand)
    activation: Quantizer | None
    eligible: bool = False
    reasons: list[str] = field(default_factory=list)  # why it cannot take the adder path
    notes: list[str] = field(default_factory=list)
    mults: int = 0
    adds: int = 0
    xnors: int = 0
    energy_pj: float = 0.0
    counted: bool = False  # False when the cost model could not count it
    hardware: str = "mult"  # binary | adder | mult: what the layer computes in hardware as is

    def decision(self) -> str:
        if self.eligible:
            return "yes" + (f" ({'; '.join(self.notes)})" if self.notes else "")
        return "no: " + "; ".join(self.reasons)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "op": self.op,
            "weight_shape": list(self.weight_shape) if self.weight_shape else None,
            "output_shape": list(self.output_shape) if self.output_shape else None,
            "weight": self.weight.to_dict() if self.weight else None,
            "activation": self.activation.to_dict() if self.activation else None,
            "eligible": self.eligible,
            "reasons": list(self.reasons),
            "notes": list(self.notes),
            "mults": self.mults,
            "adds": self.adds,
            "xnors": self.xnors,
            "energy_pj": self.energy_pj,
            "counted": self.counted,
            "hardware": self.hardware,
        }


@dataclass
class ImportReport:
    """Every accumulating layer of an imported model, and the cost of the whole model."""

    model: str
    layers: list[ImportedLayer]
    cost: CostResult
    keep_first: bool = True
    keep_last: bool = True

    @property
    def eligible(self) -> list[ImportedLayer]:
        return [layer for layer in self.layers if layer.eligible]

    def totals(self) -> dict[str, Any]:
        layer_mults = sum(layer.mults for layer in self.layers)
        eligible_mults = sum(layer.mults for layer in self.eligible)
        return {
            "layers": len(self.layers),
            "eligible_layers": len(self.eligible),
            **{
                f"{kind}_layers": sum(layer.hardware == kind for layer in self.layers)
                for kind in HARDWARE
            },
            "xnors": self.cost.total("xnor"),
            "mults": self.cost.total("mul"),
            "layer_mults": layer_mults,
            "eligible_mults": eligible_mults,
            "energy_pj": self.cost.energy_pj,
            "layer_energy_pj": sum(layer.energy_pj for layer in self.layers),
            "eligible_energy_pj": sum(layer.energy_pj for layer in self.eligible),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "keep_first": self.keep_first,
            "keep_last": self.keep_last,
            "layers": [layer.to_dict() for layer in self.layers],
            "totals": self.totals(),
            "cost": self.cost.to_dict(),
        }

    def format_table(self) -> str:
        head = ("layer", "op", "hardware", "weight", "output", "w bits", "a bits", "pow2")
        head += ("mults", "energy", "adder path")
        rows = [head]
        for layer in self.layers:
            rows.append(
                (
                    layer.name,
                    layer.op,
                    layer.hardware,
                    _dims(layer.weight_shape),
                    _dims(layer.output_shape),
                    layer.weight.label() if layer.weight else "float",
                    layer.activation.label() if layer.activation else "float",
                    _pow2_cell(layer),
                    f"{layer.mults:,}" if layer.counted else "?",
                    fmt_pj(layer.energy_pj) if layer.counted else "?",
                    layer.decision(),
                )
            )
        lines = align(rows, numeric={8, 9})
        rule = "-" * max(len(line) for line in lines)
        t = self.totals()
        share = f" ({t['eligible_mults'] / t['mults']:.0%})" if t["mults"] else ""
        summary = [
            f"model: {self.model}",
            f"in hardware: {t['binary_layers']} binary (XNOR + popcount), {t['adder_layers']} "
            f"adder, {t['mult_layers']} multiplication layers"
            + (f"; XNORs per image: {t['xnors']:,}" if t["xnors"] else ""),
            f"{t['eligible_layers']} of {t['layers']} layers can take the adder path; "
            f"multiplications per image: {t['mults']:,} in the model, {t['layer_mults']:,} in "
            f"its layers, {t['eligible_mults']:,}{share} in layers that can take the adder path",
            f"energy per image: {fmt_pj(t['energy_pj'])} (layers {fmt_pj(t['layer_energy_pj'])}"
            f", eligible layers {fmt_pj(t['eligible_energy_pj'])}); table: {self.cost.table}, "
            f"memory: {self.cost.memory}",
        ]
        summary += [f"NOT COUNTED: {item}" for item in self.cost.uncounted]
        return "\n".join([lines[0], rule, *lines[1:], rule, *summary])


def _dims(shape: tuple[int, ...] | None) -> str:
    return "x".join(map(str, shape)) if shape else "?"


def _pow2_cell(layer: ImportedLayer) -> str:
    quantizers = [q for q in (layer.weight, layer.activation) if q is not None]
    if not quantizers:
        return "-"
    if any(q.scale_pow2 is False for q in quantizers):
        return "no"
    if any(q.scale_pow2 is None for q in quantizers):
        return "run time"
    return "yes"


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


# --------------------------------------------------------------------------- quantizers


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


def _bipolar() -> Quantizer:
    """An adderflow binary layer's operand: ±1 codes, one bit each."""
    return Quantizer(
        node="",
        op="BIPOLAR",
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


# --------------------------------------------------------------------------- eligibility


def _shape(wrapper: ModelWrapper, name: str) -> tuple[int, ...] | None:
    try:
        shape = wrapper.get_tensor_shape(name)
    except Exception:  # no value info
        return None
    if shape is None or any(not isinstance(d, int) or d <= 0 for d in shape):
        return None
    return tuple(int(d) for d in shape)


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
    ]
    layers = []
    for index, node in enumerate(nodes):
        layer = _layer(wrapper, node, quantizers, strict, where)
        if node.op_type not in ("AdderConv", "AdderGemm", "XnorConv", "XnorGemm"):
            if index == 0 and keep_first:
                layer.reasons.append(f"first layer: {RULE_7}")
            elif index == len(nodes) - 1 and keep_last:
                layer.reasons.append(f"last layer: {RULE_7}")
        layer.eligible = not layer.reasons
        layers.append(layer)
    return wrapper, nodes, layers


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
    if node.domain == DOMAIN:  # adderflow's own IR: integer codes, power-of-two scales
        if node.op_type in ("XnorConv", "XnorGemm"):  # ±1 codes, weights packed as bits
            layer.hardware = "binary"
            shape = node_attr(node, "weight_shape", None)
            layer.weight_shape = tuple(int(d) for d in shape) if shape else None
            layer.weight, layer.activation = _bipolar(), _bipolar()
            layer.reasons.append("binary layer: XNOR + popcount on packed bits in hardware")
            return layer
        layer.weight, layer.activation = _annotated(wrapper, w), _annotated(wrapper, x)
        if node.op_type.startswith("Adder"):
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


def _datatype(q: Quantizer) -> DataType | None:
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
        if node.domain == DOMAIN:
            continue
        for name, q in ((node.input[0], layer.activation), (_input(node, 1), layer.weight)):
            if q is None or not name:
                continue
            current = copy.get_tensor_datatype(name)
            datatype = _datatype(q)
            if datatype is not None and (current is None or not current.is_integer()):
                copy.set_tensor_datatype(name, datatype)
    return copy.model


# --------------------------------------------------------------------------- output


def write_json(path: str | Path, report: ImportReport) -> Path:
    """Write the report as JSON atomically (a temporary file renamed into place)."""
    from adderflow.atomic import atomic_write_text

    path = Path(path)
    atomic_write_text(path, json.dumps(report.to_dict(), indent=2) + "\n")
    return path
