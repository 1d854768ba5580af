"""Operation and energy counts of an ONNX/QONNX model per image, in three views.

``estimate`` walks the model's one reading (``sim.view``): each adderflow op is counted by
its own ``cost`` rule (``sim.ops``), each standard or QONNX op by the rules here, and an op
nobody counts is listed in ``uncounted``, never counted as zero. The views:

* ``ann``: the graph as it is;
* ``cnn``: every adder layer counted as its multiplier twin (the adderflow op of the same
  layout whose arithmetic is multiply-accumulate; accumulator width from
  ``fixed.mul_acc_bits``);
* ``bnn``: every accumulating layer between the first and the last counted as XNOR +
  popcount on bits (DESIGN.md rules 6 and 7), the requantizers feeding them as sign
  thresholds. The IR's own binary layers are XNOR + popcount in every view.

Memory is compulsory traffic: each counted node reads its weights and activation inputs
once and writes its outputs once (perfect reuse inside a node, no fusion across nodes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import onnx

from adderflow.errors import ConfigError
from adderflow.sim import cost_rules as rules
from adderflow.sim.cost_result import CostResult, LayerCost
from adderflow.sim.cost_rules import CountGraph, Ops, ShapeUnknown
from adderflow.sim.energy import EnergyTable, default_energy_table, width_bits
from adderflow.sim.onnx_io import STANDARD_DOMAINS
from adderflow.sim.ops import OPS, IntegerOp
from adderflow.sim.view import ModelView, Node, read_view

VIEWS = ("ann", "cnn", "bnn")
DEFAULT_MEMORY = "sram_32kb"
QONNX_DOMAINS = ("qonnx.custom_op.general", "finn.custom_op.general")
# The standard accumulating layers and their layouts (an adderflow op's is its trait).
STANDARD_LAYERS = {"Conv": "window", "Gemm": "dense", "MatMul": "dense"}
# Ops whose arithmetic is the multiply- or adder-accumulate the papers count.
MAC_OPS = frozenset(STANDARD_LAYERS) | frozenset(
    name for name, cls in OPS.items() if cls.accumulating()
)
FREE_OPS = frozenset(
    ["Reshape", "Flatten", "Transpose", "Identity", "Squeeze", "Unsqueeze", "Concat", "Cast"]
    + ["Dropout", "Slice", "Pad"]
)
Rule = Callable[[Node, CountGraph, "str | None"], Ops]


# --------------------------------------------------------------------------- standard rules


def _gemm_terms(node: Node, g: CountGraph) -> tuple[int, int]:
    a = g.shape(node.x.name)
    return g.numel(node.out.name), a[0] if node.attr("transA", 0) else a[-1]


def _matmul_terms(node: Node, g: CountGraph) -> tuple[int, int]:
    return g.numel(node.out.name), g.shape(node.x.name)[-1]


_STANDARD_TERMS = {"Conv": rules.window_terms, "Gemm": _gemm_terms, "MatMul": _matmul_terms}


def _bipolar(g: CountGraph, name: str) -> bool:
    return g.datatypes.get(name) == "BIPOLAR"


def _layer(node: Node, g: CountGraph, counted_as: str | None) -> Ops:
    """Multiply-accumulate; a layer whose input and weight are both ±1 (``BIPOLAR``: an
    hls4ml/brevitas binary ``Gemm``, ``MatMul`` or ``Conv``) is XNOR + popcount, as the IR's
    binary layers are counted (DESIGN.md rule 6)."""
    terms = _STANDARD_TERMS[node.op](node, g)
    if len(node.inputs) > 1 and _bipolar(g, node.x.name) and _bipolar(g, node.inputs[1].name):
        return rules.xnor_terms(*terms)
    return rules.accumulate(node, g, terms, adder=False)


def _avg_pool(node: Node, g: CountGraph, counted_as: str | None) -> Ops:
    n, w = g.numel(node.out.name), g.natural_width(node.x.name)
    return rules.count(("add", w, n * (rules.pool_window(node) - 1)), ("mul", w, n))


def _global_avg_pool(node: Node, g: CountGraph, counted_as: str | None) -> Ops:
    shape = g.shape(node.x.name)
    channels, window = shape[1], int(np.prod(shape[2:]))
    w = g.natural_width(node.x.name)
    return rules.count(("add", w, channels * (window - 1)), ("mul", w, channels))


def _power_of_two_const(g: CountGraph, names: Iterable[str]) -> bool:
    for name in names:
        value = g.consts.get(name)
        if value is not None and value.size:
            mag = np.abs(value.astype(np.float64))
            if np.all(mag > 0) and np.all(np.log2(mag) == np.round(np.log2(mag))):
                return True
    return False


def _mul(node: Node, g: CountGraph, counted_as: str | None) -> Ops:
    """Scaling by a power-of-two constant is a shift (an exponent add in float): free."""
    kind = "shift" if _power_of_two_const(g, node.proto.input) else "mul"
    return rules.count((kind, g.natural_width(node.out.name), g.numel(node.out.name)))


def _elementwise(*kinds: str) -> Rule:
    def rule(node: Node, g: CountGraph, counted_as: str | None) -> Ops:
        n, w = g.numel(node.out.name), g.natural_width(node.out.name)
        return rules.count(*((kind, w, n) for kind in kinds))

    return rule


def _quant(node: Node, g: CountGraph, counted_as: str | None) -> Ops:
    """Input quantizer: 1 float mul per element (the scale); round and clip not counted.
    A ``Quant`` of a constant (a weight quantizer) is folded at export: nothing per image."""
    if node.x.name in g.consts:
        return {}
    return rules.count(("mul", g.natural_width(node.x.name), g.numel(node.x.name)))


def _free(node: Node, g: CountGraph, counted_as: str | None) -> Ops:
    return {}


_STANDARD_RULES: dict[str, Rule] = {
    **dict.fromkeys(STANDARD_LAYERS, _layer),
    "Add": _elementwise("add"),
    "Sub": _elementwise("add"),
    "Abs": _elementwise("abs"),
    "Relu": _elementwise("cmp"),
    "Mul": _mul,
    "BatchNormalization": _elementwise("mul", "add"),
    "MaxPool": rules.max_pool,
    "AveragePool": _avg_pool,
    "GlobalAveragePool": _global_avg_pool,
    **dict.fromkeys(FREE_OPS, _free),
}


def _xnor_popcount(node: Node, g: CountGraph, counted_as: str | None) -> Ops:
    """qonnx's ``XnorPopcountMatMul``: per term 1 XNOR + 1 popcount bit; its output is the
    popcount itself (qonnx's ``2·P − K`` correction, where present, is its own Mul/Add)."""
    outputs, k = _matmul_terms(node, g)
    return rules.count(("xnor", "int1", outputs * k), ("popcount", "int1", outputs * k))


def _multi_threshold(node: Node, g: CountGraph, counted_as: str | None) -> Ops:
    """qonnx's ``MultiThreshold``: per element 1 comparison per threshold of its channel (a
    threshold unit compares against each); ``out_scale``/``out_bias`` re-encode the count
    and are not counted."""
    if len(node.inputs) < 2:
        return {}
    levels = int(g.shape(node.inputs[1].name)[-1])
    return rules.count(("cmp", g.natural_width(node.x.name), g.numel(node.out.name) * levels))


def _bipolar_quant(node: Node, g: CountGraph, counted_as: str | None) -> Ops:
    """``BipolarQuant``: nothing for a constant (a weight quantizer, folded); per element 1
    sign comparison, and the scale: free when 1, a shift when a power of two, else a mul."""
    if node.x.name in g.consts:
        return {}
    n, width = g.numel(node.out.name), g.natural_width(node.x.name)
    scale = g.consts.get(node.inputs[1].name) if len(node.inputs) > 1 else None
    if scale is not None and np.all(scale == 1):
        return rules.count(("cmp", width, n))
    kind = "shift" if _power_of_two_const(g, node.proto.input[1:2]) else "mul"
    return rules.count(("cmp", width, n), (kind, width, n))


_QONNX_RULES: dict[str, Rule] = {
    "Quant": _quant,
    "BipolarQuant": _bipolar_quant,
    "MultiThreshold": _multi_threshold,
    "XnorPopcountMatMul": _xnor_popcount,
    "Im2Col": _free,  # data movement: the windows a lowered conv's MatMul reads
    "MaxPoolNHWC": rules.max_pool,
}


# --------------------------------------------------------------------------- ops and twins


def _op(node: Node) -> type[IntegerOp] | None:
    return OPS.get(node.op) if node.is_adderflow else None


def _layout(node: Node) -> str:
    cls = _op(node)
    if cls is not None:
        return cls.layout
    return STANDARD_LAYERS.get(node.op, "") if node.domain in STANDARD_DOMAINS else ""


def accumulating(node: Node) -> bool:
    cls = _op(node)
    if cls is not None:
        return cls.accumulating()
    return node.domain in STANDARD_DOMAINS and node.op in STANDARD_LAYERS


def twin_op(layout: str, arithmetic: str) -> str:
    """The adderflow op of ``layout`` whose arithmetic is ``arithmetic``: the name a view
    counts a layer as."""
    return next(
        name for name, cls in OPS.items() if cls.layout == layout and cls.arithmetic == arithmetic
    )


def _terms(node: Node, g: CountGraph) -> tuple[int, int]:
    cls = _op(node)
    if cls is not None:
        return cls.terms(node, g)
    return _STANDARD_TERMS[node.op](node, g)


def _rule(node: Node) -> Rule | None:
    cls = _op(node)
    if cls is not None:
        return cls.concern("cost", node.where())
    if node.domain in STANDARD_DOMAINS:
        return _STANDARD_RULES.get(node.op)
    if node.domain in QONNX_DOMAINS:
        return _QONNX_RULES.get(node.op)
    return None


# --------------------------------------------------------------------------- the BNN view


@dataclass(frozen=True)
class _BnnPlan:
    """What the BNN view changes, keyed by node output names: the hidden layers that become
    XNOR/popcount, the first and last layers (multiplication layers, DESIGN.md rule 7), the
    requantizers that become sign thresholds, and the tensors stored as bits."""

    binary: frozenset[str]
    multiply: frozenset[str]
    thresholds: frozenset[str]
    widths: dict[str, str]


def _sign_transparent(node: Node) -> bool:
    """A walk from a binary layer's input back to the requantizer that becomes its sign
    threshold passes these unchanged: max pooling signs is an OR of bits, the rest moves
    data."""
    cls = _op(node)
    if cls is not None:
        return cls.keeps_bipolar
    return node.op in FREE_OPS or node.op == "MaxPool"


def _sign_path(name: str, producers: dict[str, Node], widths: dict[str, str]) -> str | None:
    """Store ``name`` and the tensors behind it as bits back to its requantizer; return that
    requantizer's output (it becomes the threshold), or None if the walk meets anything else
    (a float graph's ReLU or BN stays counted as it is)."""
    while True:
        widths[name] = "int1"
        node = producers.get(name)
        if node is None:
            return None
        cls = _op(node)
        if cls is not None and cls.requantizes:
            return name
        if not _sign_transparent(node) or not node.inputs:
            return None
        name = node.x.name


def _bnn_plan(view: ModelView, g: CountGraph) -> _BnnPlan:
    layers = [node for node in view if accumulating(node)]
    producers = {out.name: node for node in view for out in node.outputs}
    widths: dict[str, str] = {}
    binary, thresholds = set(), set()
    for node in layers[1:-1]:
        cls = _op(node)
        if cls is not None and cls.binary():
            continue  # already binary: counted by its own rule, its input already thresholded
        try:
            _, k = _terms(node, g)
        except ShapeUnknown:
            continue  # counted by its own rule, which lists it as uncounted
        binary.add(node.out.name)
        widths[node.inputs[1].name] = "int1"
        widths[node.out.name] = f"int{int(k).bit_length()}"  # a popcount of K bits: 0..K
        thresholds.add(_sign_path(node.x.name, producers, widths))
    ends = frozenset(node.out.name for node in layers[:1] + layers[-1:])
    return _BnnPlan(frozenset(binary), ends, frozenset(thresholds - {None}), widths)


def binarizable(model: onnx.ModelProto) -> bool:
    """Whether a BNN view applies: some layer lies between the first and the last."""
    return sum(map(accumulating, read_view(model))) > 2


def _xnor(node: Node, g: CountGraph, counted_as: str | None) -> Ops:
    return rules.xnor_twin(*_terms(node, g))


def _threshold(node: Node, g: CountGraph, counted_as: str | None) -> Ops:
    return rules.sign_threshold(node, g)


# --------------------------------------------------------------------------- estimate


def _check_options(view: str, table: EnergyTable, precision: str | None, memory: str) -> None:
    if view not in VIEWS:
        raise ConfigError(f"unknown view {view!r} (known: {', '.join(VIEWS)})")
    if precision is not None:
        for kind in ("add", "mul"):
            table.op_energy(kind, precision)  # raises naming the precision when unusable
    table.memory_pj(memory, 0)


def _memory_bits(node: Node, g: CountGraph) -> tuple[int, int, int]:
    ins = [n for n in node.proto.input if n]
    weights = sum(g.numel(n) * width_bits(g.width(n)) for n in ins if n in g.consts)
    reads = sum(g.numel(n) * width_bits(g.width(n)) for n in ins if n not in g.consts)
    writes = sum(g.numel(n) * width_bits(g.width(n)) for n in node.proto.output if n)
    return weights, reads, writes


@dataclass(frozen=True)
class _Counting:
    """How one view counts one node: the rule, the op it is counted as when that differs,
    and whether its operations stay integer under a precision override."""

    rule: Rule | None
    counted_as: str | None = None
    integer: bool = False
    threshold: bool = False


def _view_rule(node: Node, view: str, plan: _BnnPlan | None) -> _Counting:
    key = node.out.name if node.outputs else ""
    if plan is not None and key in plan.binary:
        return _Counting(_xnor, twin_op(_layout(node), "xnor"), integer=True)
    if plan is not None and key in plan.thresholds:
        return _Counting(_threshold, "Threshold", integer=True, threshold=True)
    cls = _op(node)
    to_multiply = view == "cnn" or (plan is not None and key in plan.multiply)
    twin = None
    if to_multiply and cls is not None and cls.arithmetic == "adder":
        twin = twin_op(cls.layout, "mac")
    return _Counting(_rule(node), twin, integer=cls is not None and cls.integer_cost)


def _count_node(
    node: Node, g: CountGraph, view: str, plan: _BnnPlan | None = None
) -> LayerCost | None:
    """Counts of one node; None for an unknown op (the caller lists it as uncounted)."""
    how = _view_rule(node, view, plan)
    if how.rule is None:
        return None
    ops = how.rule(node, g, how.counted_as)
    if g.precision and not how.integer:
        ops = rules.count(
            *((kind, g.precision, n) for kind, by_w in ops.items() for n in by_w.values())
        )
    layer = LayerCost(node.proto.name or node.out.name, node.op, ops, counted_as=how.counted_as)
    if how.rule is not _free:
        layer.weight_bits, layer.act_read_bits, layer.act_write_bits = _memory_bits(node, g)
    if how.threshold:  # one threshold per channel replaces multiplier and bias
        layer.weight_bits = g.numel(node.inputs[2].name) * width_bits(g.width(node.x.name))
    return layer


def _price(layer: LayerCost, table: EnergyTable, memory: str, notes: set[str]) -> None:
    layer.arith_pj = 0.0
    for kind, by_width in layer.ops.items():
        for width, n in by_width.items():
            lookup = table.op_energy(kind, width)
            layer.arith_pj += n * lookup.pj
            if lookup.interpolated:
                notes.add(lookup.label)
    layer.memory_pj = table.memory_pj(memory, layer.accesses_64b)


def estimate(
    model: onnx.ModelProto,
    view: str = "ann",
    table: EnergyTable | None = None,
    precision: str | None = None,
    memory: str = DEFAULT_MEMORY,
) -> CostResult:
    """Counts and energy of ``model`` per image.

    ``view="cnn"`` counts adder layers as their multiplier twins; ``view="bnn"`` counts
    every layer between the first and the last as XNOR + popcount (first and last stay
    multiplication layers) and the requantizers feeding them as sign thresholds.
    ``precision`` (e.g. ``"fp32"``) treats all arithmetic and storage as that width (binary
    layers and thresholds excepted), which is how the papers' float comparisons are
    reproduced. ``memory`` is the level every access is priced at.
    """
    table = table or default_energy_table()
    _check_options(view, table, precision, memory)
    model_view = read_view(model)
    g = CountGraph.of(model_view, precision)
    plan = _bnn_plan(model_view, g) if view == "bnn" else None
    if plan is not None:
        g.overrides = plan.widths
    layers, uncounted, notes = [], [], set()
    for node in model_view:
        if node.op == "Constant" and node.domain in STANDARD_DOMAINS:
            continue  # data, not computation
        name = node.proto.name or node.proto.output[0]
        try:
            layer = _count_node(node, g, view, plan)
        except ShapeUnknown as exc:
            uncounted.append(f"{node.op} (node {name}: shape of '{exc}' unknown)")
            continue
        if layer is None:
            uncounted.append(f"{node.op} (node {name})")
            continue
        _price(layer, table, memory, notes)
        layers.append(layer)
    return CostResult(view, layers, uncounted, sorted(notes), precision, memory, table.origin)


def as_ann(model: onnx.ModelProto, **options) -> CostResult:
    """The network as it is: adder layers cost additions."""
    return estimate(model, "ann", **options)


def as_cnn(model: onnx.ModelProto, **options) -> CostResult:
    """The multiplier twin: every adder layer counted as its multiplication layer."""
    return estimate(model, "cnn", **options)


def as_bnn(model: onnx.ModelProto, **options) -> CostResult:
    """The binary twin: hidden layers XNOR + popcount, first and last layers multiply."""
    return estimate(model, "bnn", **options)
