"""The one reading of a model: its nodes with their ops, attributes, tensor shapes, IR
datatypes, code widths and constant parameters.

``read_view(model)`` builds it once; every backend consumes it (the load checks, the cost
model, the standard-ONNX lowering, the hls4ml converter, the RTL network generator and its
cycle model), so no backend walks the ONNX protos or works out a width on its own.

Widths follow the numeric contract (DESIGN.md rule 9): an activation's code width is set by
its producer (the input quantizer's bit width, an adderflow op's ``out_bits``, 2 for the
±1 codes of a ``bipolar`` tensor) and passes unchanged through the standard ops between
layers (``Mul`` by a power of two, ``Cast``, ``Flatten``, ``Reshape``, and ``Concat`` of
operands sharing one width); a weight's is its ``INTn`` annotation. ``Tensor.value_bits``
is the narrowest width its values need, which a backend may store them in; it never
exceeds the annotation once the load checks have passed.

Reading never fails on an odd model (the cost model reads any ONNX file): a shape nothing
gives is ``None``, and the errors come from ``Node.attr``/``Node.const`` or the op checks,
each naming the node. Torch-free.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from adderflow.errors import ModelFormatError
from adderflow.fixed import code_bits
from adderflow.sim.onnx_io import STANDARD_DOMAINS, node_label
from adderflow.sim.ops import OPS

DOMAIN = "adderflow"
INPUT_BITS_KEY = "adderflow.input_bits"
_REQUIRED = object()
# The standard ops that pass ±1 codes on as ±1 codes (DESIGN.md rule 6).
_KEEP_BIPOLAR = frozenset({"Flatten", "Reshape"})

Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class Tensor:
    """One tensor of the model as the backends see it."""

    name: str
    shape: Shape | None = None  # None: no static shape known; dim 0 of an activation may be None
    elem_type: int = 0  # ONNX TensorProto element type, 0 when unknown
    datatype: str | None = None  # the IR's annotation (``INT8``, ``BIPOLAR``, ``UINT8``, ...)
    bits: int | None = None  # code width under the contract; None where the contract says none
    bipolar: bool = False  # ±1 codes (a binary threshold's output, pooled or flattened)
    producer: str = ""  # label of the node that set ``bits`` (the graph input: "")
    value: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def is_const(self) -> bool:
        return self.value is not None

    @property
    def value_bits(self) -> int:
        """The narrowest signed width holding every value of a constant (at least 1)."""
        if self.value is None:
            raise ModelFormatError(f"tensor '{self.name}' is not a constant")
        return code_bits(self.value)

    def static_shape(self) -> tuple[int, ...]:
        """The shape without unknown dimensions; an unknown one names the tensor."""
        if self.shape is None or any(d is None for d in self.shape):
            raise ModelFormatError(f"tensor '{self.name}' has no static shape")
        return tuple(int(d) for d in self.shape)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Node:
    """One node: its op, attributes (Python values) and its input and output tensors."""

    proto: onnx.NodeProto = field(repr=False)
    label: str
    op: str
    domain: str
    attrs: dict[str, Any]
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    @property
    def is_adderflow(self) -> bool:
        return self.domain == DOMAIN

    @property
    def x(self) -> Tensor:
        """The first input (the activation of every adderflow op)."""
        return self.inputs[0]

    @property
    def out(self) -> Tensor:
        return self.outputs[0]

    def attr(self, name: str, default: Any = _REQUIRED) -> Any:
        """An attribute's value; a missing required one is an error naming the node."""
        if name in self.attrs:
            return self.attrs[name]
        if default is _REQUIRED:
            raise ModelFormatError(f"node '{self.label}' ({self.op}) lacks attribute '{name}'")
        return default

    def const(self, index: int, what: str = "") -> np.ndarray:
        """Input ``index`` as a constant; an input that is none is an error naming both."""
        if index >= len(self.inputs) or self.inputs[index].value is None:
            name = self.proto.input[index] if index < len(self.proto.input) else f"#{index}"
            label = what or f"input '{name}'"
            raise ModelFormatError(f"{self.where()}: {label} is not an initializer")
        return self.inputs[index].value  # type: ignore[return-value]

    def where(self) -> str:
        """How messages name the node: ``node 'name' (Op)``."""
        return f"node '{self.label}' ({self.op})"


@dataclass(frozen=True)
class ModelView:
    """Every node of a model in graph order, and every tensor by name."""

    model: onnx.ModelProto = field(repr=False)
    nodes: tuple[Node, ...]
    tensors: dict[str, Tensor]
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]
    input_bits: int | None  # the IR's ``adderflow.input_bits`` property, None when absent

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    @property
    def input(self) -> Tensor:
        return self.inputs[0]

    @property
    def output(self) -> Tensor:
        return self.outputs[0]


def read_view(model: onnx.ModelProto) -> ModelView:
    """The model as one ``ModelView`` (see the module docstring)."""
    graph = model.graph
    consts = _constants(graph)
    shapes, elems = _shapes(model, consts)
    datatypes = _datatypes(graph)
    widths: dict[str, tuple[int, str, bool]] = {}  # tensor -> (bits, producer, bipolar)
    for vi in graph.input:
        bits = _annotated_bits(datatypes.get(vi.name))
        if bits is not None:
            widths[vi.name] = (bits, "", datatypes.get(vi.name) == "BIPOLAR")

    def tensor(name: str) -> Tensor:
        bits, producer, bipolar = widths.get(name, (None, "", False))
        value = consts.get(name)
        if value is not None and bits is None:
            bits = _annotated_bits(datatypes.get(name))
        shape = tuple(value.shape) if value is not None else shapes.get(name)
        return Tensor(
            name, shape, elems.get(name, 0), datatypes.get(name), bits, bipolar, producer, value
        )

    nodes = []
    for proto in graph.node:
        _propagate_width(proto, consts, widths)
        nodes.append(
            Node(
                proto=proto,
                label=node_label(proto),
                op=proto.op_type,
                domain=proto.domain,
                attrs={a.name: _attr_value(a) for a in proto.attribute},
                inputs=tuple(tensor(n) for n in proto.input),
                outputs=tuple(tensor(n) for n in proto.output),
            )
        )
    names = {n for node in graph.node for n in [*node.input, *node.output] if n}
    names |= {vi.name for vi in [*graph.input, *graph.output]} | set(consts)
    props = {p.key: p.value for p in model.metadata_props}
    return ModelView(
        model=model,
        nodes=tuple(nodes),
        tensors={name: tensor(name) for name in sorted(names)},
        inputs=tuple(tensor(vi.name) for vi in graph.input if vi.name not in consts),
        outputs=tuple(tensor(vi.name) for vi in graph.output),
        input_bits=_int_or_none(props.get(INPUT_BITS_KEY)),
    )


# ---- widths ----------------------------------------------------------------------------


def _propagate_width(proto: onnx.NodeProto, consts: dict, widths: dict) -> None:
    """Set the code width of the node's output from the node (DESIGN.md rule 9)."""
    if not proto.output:
        return
    out, label = proto.output[0], node_label(proto)
    source = widths.get(proto.input[0]) if proto.input else None
    if proto.domain == DOMAIN:
        op = OPS.get(proto.op_type)
        if op is not None and op.bipolar_output:
            widths[out] = (2, label, True)  # a ±1 code fits 2 signed bits
            return
        bits = _int_or_none(_find_attr(proto, "out_bits"))
        if bits is not None:
            keeps = op is not None and op.keeps_bipolar and bool(source and source[2])
            widths[out] = (bits, label, keeps)
    elif proto.op_type == "Quant" and len(proto.input) > 3 and proto.input[3] in consts:
        bits = np.asarray(consts[proto.input[3]]).reshape(-1)
        if bits.size == 1 and float(bits[0]).is_integer():
            widths[out] = (int(bits[0]), label, False)
    elif proto.op_type == "Concat" and proto.domain in STANDARD_DOMAINS:
        _concat_width(proto, widths)
    elif source is not None:
        # Mul by 2**f, Cast, Flatten, Reshape keep the codes' width; only a flatten or a
        # reshape keeps them ±1 (a Mul by 2 of ±1 codes is no ±1 code, which a binary layer
        # must refuse).
        widths[out] = (source[0], source[1], source[2] and proto.op_type in _KEEP_BIPOLAR)


def _concat_width(proto: onnx.NodeProto, widths: dict) -> None:
    """A concatenation has its operands' one width (the load check refuses operands of
    different types; the widest is kept meanwhile) and is ±1 codes when all are. Operands
    from one producer keep it as the width's source; otherwise the concatenation is."""
    operands = [widths.get(name) for name in proto.input]
    if not operands or any(o is None for o in operands):
        return
    producers = {o[1] for o in operands}
    producer = producers.pop() if len(producers) == 1 else node_label(proto)
    bits = max(o[0] for o in operands)
    widths[proto.output[0]] = (bits, producer, all(o[2] for o in operands))


def _find_attr(proto: onnx.NodeProto, name: str) -> Any:
    return next((_attr_value(a) for a in proto.attribute if a.name == name), None)


def _attr_value(attribute: onnx.AttributeProto) -> Any:
    value = onnx.helper.get_attribute_value(attribute)
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list) and value and isinstance(value[0], bytes):
        return [v.decode() for v in value]
    return value


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def _annotated_bits(datatype: str | None) -> int | None:
    """``INTn`` → n, ``BIPOLAR`` → 2 (a ±1 code fits 2 signed bits); others None."""
    if datatype is None:
        return None
    if datatype == "BIPOLAR":
        return 2
    if datatype.startswith("INT") and datatype[3:].isdigit():
        return int(datatype[3:])
    return None


def _datatypes(graph: onnx.GraphProto) -> dict[str, str]:
    return {
        ann.tensor_name: kv.value
        for ann in graph.quantization_annotation
        for kv in ann.quant_parameter_tensor_names
        if kv.key == "finn_datatype"
    }


# ---- constants and shapes ----------------------------------------------------------------


def _constants(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.domain in STANDARD_DOMAINS:
            value = next((a.t for a in node.attribute if a.name == "value"), None)
            if value is not None:
                consts[node.output[0]] = numpy_helper.to_array(value)
    return consts


def _shapes(model: onnx.ModelProto, consts: dict) -> tuple[dict[str, Shape | None], dict]:
    """Static shapes from the model's value infos, then ONNX shape inference, then each
    adderflow op's own shape rule for what is still unknown (inference skips custom ops)."""
    shapes, elems = _value_infos(model.graph)
    names = {n for node in model.graph.node for n in [*node.input, *node.output] if n}
    if any(shapes.get(n) is None for n in names - set(consts)):
        try:
            inferred = onnx.shape_inference.infer_shapes(model).graph
        except Exception:  # best effort: whatever stays unknown is None
            inferred = None
        if inferred is not None:
            more, more_elems = _value_infos(inferred)
            shapes = {**more, **{k: v for k, v in shapes.items() if v is not None}}
            elems = {**more_elems, **elems}
        _custom_shapes(model.graph, shapes, consts)
    return shapes, elems


def _value_infos(graph: onnx.GraphProto) -> tuple[dict[str, Shape | None], dict[str, int]]:
    shapes: dict[str, Shape | None] = {}
    elems: dict[str, int] = {}
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        tt = vi.type.tensor_type
        if tt.elem_type:
            elems[vi.name] = tt.elem_type
        dims = tt.shape.dim if tt.HasField("shape") else None
        shapes[vi.name] = (
            None
            if dims is None
            else tuple(d.dim_value if d.HasField("dim_value") else None for d in dims)
        )
    return shapes, elems


def _custom_shapes(graph: onnx.GraphProto, shapes: dict, consts: dict) -> None:
    for proto in graph.node:
        if proto.domain != DOMAIN or proto.op_type not in OPS or not proto.output:
            continue
        if shapes.get(proto.output[0]) is not None:
            continue
        ins = [tuple(consts[n].shape) if n in consts else shapes.get(n) for n in proto.input]
        if any(s is None or None in s[1:] for s in ins):
            continue
        try:
            shapes[proto.output[0]] = tuple(OPS[proto.op_type](proto).output_shape(ins))
        except Exception:  # a malformed node: its checks name it later
            continue
