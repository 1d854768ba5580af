"""Run an adderflow QONNX model: the reference executor, and qonnx's own execution.

``run_reference`` is the oracle: a plain walk over the nodes in order, adderflow ops
through their ``execute_node`` (the NumPy reference), the few standard ops of the input
stage in NumPy. ``run_qonnx`` hands the same model to ``qonnx.core.onnx_exec``.
Both return every tensor by name so backends can be compared layer by layer.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from qonnx.custom_op.general.quant import quant

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.fixed import (
    MAX_BITS,
    MAX_PRODUCT_BITS,
    MIN_BITS,
    acc_bits_needed,
    avg_pool_shift,
    check_bits,
    check_requant_limits,
    unpack_bits,
    xnor_acc_bits,
)
from adderflow.sim.onnx_io import node_attr, node_label, read_onnx
from adderflow.sim.ops import BINARY_LAYERS, DOMAIN, OPS

QONNX_DOMAIN = "qonnx.custom_op.general"


def load_model(path: str | Path) -> onnx.ModelProto:
    """An adderflow model the reference can run, with one clear error when it cannot.

    ``read_onnx`` refuses a broken file, a missing initializer and a non-ONNX op;
    ``check_supported`` an op the reference does not run; ``check_contract`` a bit width,
    scale or shift the numeric contract (DESIGN.md) cannot express. Each names the node.
    """
    model = read_onnx(path)
    check_supported(model)
    check_contract(model)
    return model


def check_supported(model: onnx.ModelProto) -> None:
    for node in model.graph.node:
        if node.domain == DOMAIN and node.op_type not in OPS:
            raise ModelFormatError(
                f"node '{node.name}': unknown adderflow op '{node.op_type}' "
                f"(known: {', '.join(sorted(OPS))})"
            )
        if node.domain not in (DOMAIN, QONNX_DOMAIN, "", "ai.onnx") or (
            node.domain != DOMAIN and node.op_type not in _STANDARD
        ):
            raise ModelFormatError(
                f"node '{node.name}': op '{node.domain or 'ai.onnx'}.{node.op_type}' is not "
                "supported by the integer reference"
            )


def check_contract(model: onnx.ModelProto) -> None:
    """Bit widths, scales and shifts of an adderflow model are ones the contract allows.

    The one load-time check of DESIGN.md's limits (rule 9) that every backend relies on.
    The input quantizer's bit width is 2..16, its scale (and the ``Mul`` turning values
    into codes) a power of two, its zero point 0, and it is ``signed=1, narrow=0,
    rounding_mode=ROUND`` (the only input rounding every backend implements). Every
    operand of an accumulating op (activation and weight) is 2..16 bits wide: an
    activation's width is its producer's (the input quantizer's bit width, an op's
    ``out_bits``; a pool's output is at least its input's width), a weight's its ``INTn``
    annotation, whose range its values must respect. Convolutions have kernels and strides
    of at least 1 and pads of at least 0 (any, also ``>= k``). Every accumulator's
    ``out_bits`` holds the largest ``|acc|`` of its input width and weights
    (``fixed.acc_bits_needed``); requantizations have shifts 0..``MAX_SHIFT``, integer
    ``M`` and ``B`` and ``|acc·M + B|`` within ``MAX_PRODUCT_BITS`` bits
    (``fixed.check_requant_limits``). Accumulators and requantized outputs (the last layer
    keeps its full accumulator) are 2..``MAX_PRODUCT_BITS`` bits.
    """
    consts = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    datatypes = {
        ann.tensor_name: kv.value
        for ann in model.graph.quantization_annotation
        for kv in ann.quant_parameter_tensor_names
        if kv.key == "finn_datatype"
    }
    # activation tensor -> (bits, the node that set them)
    widths: dict[str, tuple[int, str]] = {}
    bipolar: set[str] = set()  # tensors of ±1 codes (a BinaryThreshold's, pooled, flattened)
    requantized: dict[str, onnx.NodeProto] = {}  # a Requant's output -> the Requant
    for node in model.graph.node:
        label = f"node '{node_label(node)}'"
        if node.input and node.input[0] in requantized:
            _check_code_width(node, requantized[node.input[0]])
        if node.domain == DOMAIN:
            _check_custom(node, label, consts, datatypes, widths, bipolar)
            if node.op_type == "BinaryThreshold":
                widths[node.output[0]] = (2, node_label(node))  # a ±1 code fits 2 signed bits
                bipolar.add(node.output[0])
                continue
            widths[node.output[0]] = (node_attr(node, "out_bits"), node_label(node))
            if node.op_type == "IntMaxPool" and node.input and node.input[0] in bipolar:
                bipolar.add(node.output[0])
            elif node.op_type == "IntMaxPool" and node.input and node.input[0] in widths:
                _check_pool_width(node, label, widths)
        elif node.op_type == "Quant":
            widths[node.output[0]] = (_check_quant(node, label, consts), node_label(node))
        elif node.op_type == "Mul":
            factor = next((consts[n] for n in node.input if n in consts), None)
            if factor is not None and not power_of_two(factor):
                raise QuantizationError(
                    f"{label} (Mul): factor {_show(factor)} is not a power of two; "
                    "the hardware path scales by shifts only"
                )
        if node.op_type == "Requant" and node.domain == DOMAIN:
            requantized[node.output[0]] = node
        if node.domain != DOMAIN and node.input and node.input[0] in widths:
            widths[node.output[0]] = widths[node.input[0]]  # Mul by 2**f, Cast, Flatten
            if node.op_type == "Flatten" and node.input[0] in bipolar:
                bipolar.add(node.output[0])


def power_of_two(value: np.ndarray) -> bool:
    """Every element a positive power of two (``2**k`` for an integer ``k``), exactly."""
    value = np.asarray(value, dtype=np.float64)
    if value.size == 0 or not np.all(np.isfinite(value)) or not np.all(value > 0):
        return False
    mantissa, _ = np.frexp(value)
    return bool(np.all(mantissa == 0.5))


def _show(value: np.ndarray) -> str:
    flat = np.asarray(value).ravel()
    return f"{flat[0]:g}" if flat.size == 1 else f"[{', '.join(f'{v:g}' for v in flat[:4])}...]"


def _const(node, label: str, consts: dict, index: int, what: str) -> np.ndarray:
    name = node.input[index] if len(node.input) > index else ""
    if name not in consts:
        raise ModelFormatError(f"{label} ({node.op_type}): {what} '{name}' is not an initializer")
    return consts[name]


def _check_quant(node, label: str, consts: dict) -> int:
    bits = _const(node, label, consts, 3, "bit width")
    if bits.size != 1 or float(bits.ravel()[0]) != round(float(bits.ravel()[0])):
        raise QuantizationError(f"{label} (Quant): bit width {_show(bits)} is not an integer")
    width = check_bits(int(bits.ravel()[0]), f"{label} (Quant): bit width")
    for name, allowed in _INPUT_QUANT_ATTRS.items():
        value = node_attr(node, name, allowed)
        if value != allowed:
            raise QuantizationError(
                f"{label} (Quant): {name}={value} is not supported; the contract's input "
                f"quantizer is signed=1, narrow=0, rounding_mode=ROUND (round half to even, "
                "saturating), which every backend implements"
            )
    scale = _const(node, label, consts, 1, "scale")
    if not power_of_two(scale):
        raise QuantizationError(
            f"{label} (Quant): scale {_show(scale)} is not a power of two; the hardware path "
            "needs fixed<b, f> scales 2**-f"
        )
    zeropt = _const(node, label, consts, 2, "zero point")
    if np.any(zeropt != 0):
        raise QuantizationError(f"{label} (Quant): zero point {_show(zeropt)} is not 0")
    return width


# The input quantizer every backend implements (DESIGN.md rule 5); anything else is refused.
_INPUT_QUANT_ATTRS = {"signed": 1, "narrow": 0, "rounding_mode": "ROUND"}

_ACCUMULATING = ("AdderConv", "AdderGemm", "IntConv", "IntGemm")


def _check_custom(
    node, label: str, consts: dict, datatypes: dict, widths: dict, bipolar: set
) -> None:
    op = node.op_type
    if op == "BinaryThreshold":
        _check_threshold(node, label, consts)
        return
    out_bits = node_attr(node, "out_bits")
    if isinstance(out_bits, bool) or not isinstance(out_bits, int):
        raise QuantizationError(f"{label} ({op}): out_bits must be an integer, got {out_bits!r}")
    if not MIN_BITS <= out_bits <= MAX_PRODUCT_BITS:
        raise QuantizationError(
            f"{label} ({op}): out_bits {out_bits} is outside {MIN_BITS}..{MAX_PRODUCT_BITS}"
        )
    if op == "IntAvgPool":
        _check_avg_pool(node, label, widths, bipolar, out_bits)
        return
    if op == "Requant" and len(node.input) == 3:
        acc_bits = widths[node.input[0]][0] if node.input[0] in widths else MAX_PRODUCT_BITS
        check_requant_limits(
            acc_bits,
            _const(node, label, consts, 1, "multiplier"),
            _const(node, label, consts, 2, "bias"),
            node_attr(node, "shift"),
            f"{label} (Requant)",
        )
    if op in BINARY_LAYERS and len(node.input) >= 2:
        _check_binary_layer(node, label, consts, widths, bipolar, out_bits)
        return
    if op not in _ACCUMULATING or len(node.input) < 2:
        return  # a wrong input count is verify_node's error, raised when the op runs
    x, weight = node.input[:2]
    if op.endswith("Conv"):
        _check_window(node, label)
    x_bits = None
    if x in widths:
        bits, producer = widths[x]
        x_bits = check_bits(bits, f"{label} ({op}): input '{x}' (set by node '{producer}') width")
    datatype = datatypes.get(weight, "")
    w = consts.get(weight)
    if datatype.startswith("INT") and datatype[3:].isdigit():
        bits = check_bits(int(datatype[3:]), f"{label} ({op}): weight '{weight}' width")
        lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
        if w is not None and w.size and (w.min() < lo or w.max() > hi):
            raise QuantizationError(
                f"{label} ({op}): weight '{weight}' has values outside {datatype}"
            )
    if x_bits is not None and w is not None and w.size:
        if w.dtype.kind not in "iu":
            raise ModelFormatError(f"{label} ({op}): weight '{weight}' is not integer codes")
        kind = "adder" if op.startswith("Adder") else "mul"
        needed = acc_bits_needed(kind, x_bits, w)
        if out_bits < needed:
            raise QuantizationError(
                f"{label} ({op}): out_bits {out_bits} cannot hold its accumulators: "
                f"{x_bits}-bit inputs and these weights reach {needed} bits (DESIGN.md rules "
                "2 and 9: accumulators never wrap)"
            )


def _check_window(node, label: str) -> None:
    """Kernels and strides of at least 1, pads of at least 0 (rule 9: any ``p``, also
    ``p >= k``: an output that sees only padding is ``-Σ|w|``)."""
    kernel = list(node_attr(node, "kernel_shape"))
    strides = list(node_attr(node, "strides", [1, 1]))
    pads = list(node_attr(node, "pads", [0, 0, 0, 0]))
    what = f"{label} ({node.op_type})"
    if len(kernel) != 2 or min(kernel) < 1:
        raise QuantizationError(f"{what}: kernel_shape {kernel} is not 2 sizes >= 1")
    if len(strides) != 2 or min(strides) < 1:
        raise QuantizationError(f"{what}: strides {strides} are not 2 values >= 1")
    if len(pads) != 4 or min(pads) < 0:
        raise QuantizationError(f"{what}: pads {pads} are not 4 values >= 0")


def _check_code_width(consumer, requant) -> None:
    """A requantized tensor another node reads is a code: 2..16 bits (only the graph's
    output, the logits, may keep a wider requantized width). A layer reading it names the
    width as its own operand's; pools and flattens pass it on, so it is named here."""
    if consumer.op_type in _ACCUMULATING:
        return
    bits = node_attr(requant, "out_bits")
    if not MIN_BITS <= bits <= MAX_BITS:
        raise QuantizationError(
            f"node '{node_label(requant)}' (Requant): out_bits {bits} is outside "
            f"{MIN_BITS}..{MAX_BITS}, but node '{node_label(consumer)}' reads its output as "
            "codes (only the graph's output may keep a wider requantized width)"
        )


def _check_pool_width(node, label: str, widths: dict) -> None:
    """The max of codes fits their width: a narrower ``out_bits`` would hide a wider input
    (e.g. a 40-bit requantized output) from the next layer's operand check."""
    bits, producer = widths[node.input[0]]
    if node_attr(node, "out_bits") < bits:
        raise QuantizationError(
            f"{label} ({node.op_type}): out_bits {node_attr(node, 'out_bits')} is narrower than "
            f"its input '{node.input[0]}' ({bits} bits, set by node '{producer}')"
        )


def _check_avg_pool(node, label: str, widths: dict, bipolar: set, out_bits: int) -> None:
    """Square kernel = stride, power-of-two area (the mean is a shift), and an output as wide
    as the input: the average of codes stays in their range, so nothing saturates. Not over
    ±1 codes: their mean is no ±1 code, and every other backend refuses it too."""
    avg_pool_shift(
        node_attr(node, "kernel_shape"), node_attr(node, "strides"), f"{label} (IntAvgPool)"
    )
    x = node.input[0] if node.input else ""
    if x in bipolar:
        raise QuantizationError(
            f"{label} (IntAvgPool): averages the ±1 codes of '{x}'; binary activations are "
            "max pooled (the mean of ±1 codes is not a ±1 code)"
        )
    if x in widths and out_bits < widths[x][0]:
        bits, producer = widths[x]
        raise QuantizationError(
            f"{label} (IntAvgPool): out_bits {out_bits} is narrower than its input '{x}' "
            f"({bits} bits, set by node '{producer}'); the average needs the input's width"
        )


def _check_binary_layer(
    node, label: str, consts: dict, widths: dict, bipolar: set, out_bits: int
) -> None:
    """A binary layer reads ±1 codes, has packed-bit weights matching ``weight_shape``, and
    an accumulator wide enough for ``|2·popcount − K| <= K`` (DESIGN.md rule 6)."""
    op = node.op_type
    x, weight = node.input[:2]
    if x not in bipolar:
        source = f" (set by node '{widths[x][1]}')" if x in widths else ""
        raise QuantizationError(
            f"{label} ({op}): input '{x}'{source} is not ±1 codes; a binary layer reads the "
            "output of a BinaryThreshold (through pooling or flattening only)"
        )
    shape = tuple(int(d) for d in node_attr(node, "weight_shape"))
    rank = 4 if op == "XnorConv" else 2
    if len(shape) != rank or min(shape, default=0) < 1:
        raise ModelFormatError(f"{label} ({op}): weight_shape {list(shape)} is not of rank {rank}")
    if weight not in consts:
        raise ModelFormatError(f"{label} ({op}): packed weight '{weight}' is not an initializer")
    try:
        unpack_bits(consts[weight], shape)
    except QuantizationError as exc:
        raise ModelFormatError(f"{label} ({op}): weight '{weight}': {exc}") from exc
    terms = int(np.prod(shape[1:]))
    if out_bits < xnor_acc_bits(terms):
        raise QuantizationError(
            f"{label} ({op}): out_bits {out_bits} cannot hold accumulators up to ±{terms} "
            f"(needs {xnor_acc_bits(terms)})"
        )


def _check_threshold(node, label: str, consts: dict) -> None:
    """Thresholds and directions are integer initializers, one per channel; directions ±1."""
    if len(node.input) != 3:
        return  # verify_node's error, raised when the op runs
    threshold = _const(node, label, consts, 1, "threshold")
    direction = _const(node, label, consts, 2, "direction")
    for what, value in (("threshold", threshold), ("direction", direction)):
        if value.dtype.kind not in "iu" or value.ndim != 1:
            raise ModelFormatError(
                f"{label} (BinaryThreshold): {what} must be a 1-D integer initializer, got "
                f"{value.dtype} {list(value.shape)}"
            )
    if threshold.shape != direction.shape:
        raise ModelFormatError(
            f"{label} (BinaryThreshold): {threshold.size} thresholds but {direction.size} "
            "directions"
        )
    if not np.all((direction == 1) | (direction == -1)):
        raise QuantizationError(f"{label} (BinaryThreshold): directions must be +1 or -1")


def _quant(node, ins):
    x, scale, zeropt, bits = ins
    return quant(
        x,
        scale,
        zeropt,
        bits,
        node_attr(node, "signed"),
        node_attr(node, "narrow"),
        node_attr(node, "rounding_mode"),
    )


def _cast(node, ins):
    return ins[0].astype(onnx.helper.tensor_dtype_to_np_dtype(node_attr(node, "to")))


def _flatten(node, ins):
    axis = node_attr(node, "axis")
    return ins[0].reshape(int(np.prod(ins[0].shape[:axis])), -1)


_STANDARD = {
    "Quant": _quant,
    "Mul": lambda node, ins: ins[0] * ins[1],
    "Cast": _cast,
    "Flatten": _flatten,
}


def run_reference(model: onnx.ModelProto, image: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor of ``model`` on ``image`` (any batch size), computed by the reference."""
    graph = model.graph
    context = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    context[graph.input[0].name] = np.asarray(image, dtype=np.float32)
    for node in graph.node:
        if node.domain == DOMAIN:
            OPS[node.op_type](node).execute_node(context, graph)
            continue
        ins = [context[name] for name in node.input]
        context[node.output[0]] = _STANDARD[node.op_type](node, ins)
    return context


def run_qonnx(model: onnx.ModelProto, image: np.ndarray) -> dict[str, np.ndarray]:
    """Every tensor of ``model`` computed by qonnx's graph execution (batch from ``image``)."""
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    wrapper = ModelWrapper(with_batch_size(model, len(image)))
    name = wrapper.graph.input[0].name
    return execute_onnx(wrapper, {name: np.asarray(image, np.float32)}, True)


def with_batch_size(model: onnx.ModelProto, batch: int) -> onnx.ModelProto:
    """A copy of ``model`` whose inputs, outputs and intermediate tensors have ``batch`` rows.

    Only tensors computed from the graph input change: a tensor computed from constants
    alone (a packed weight unpacked in a lowered graph) keeps its shape.
    """
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    graph = copy.graph
    constants = {t.name for t in graph.initializer}
    dynamic = {vi.name for vi in graph.input if vi.name not in constants}
    for node in graph.node:
        if any(name in dynamic for name in node.input):
            dynamic.update(node.output)
    for vi in [*graph.input, *graph.output, *graph.value_info]:
        if vi.name in dynamic:
            vi.type.tensor_type.shape.dim[0].dim_value = batch
    return copy


def output_name(model: onnx.ModelProto) -> str:
    return model.graph.output[0].name
