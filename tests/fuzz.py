"""A differential fuzzer of the numeric contract (DESIGN.md rules 1-10) over every backend.

A case is a random IR network (``QuantizedNetwork`` → ``build_qonnx``) plus input images,
drawn from the whole contract domain: input widths 2..16 with rounding ties and
saturating values, adder and multiplication convs (kernels 1..5, non-square, strides 1..3,
pads 0..k+1 per side, so windows that see only padding occur), max and average pools,
flatten + adder or multiplication dense layers, requantization with negative multipliers,
large shifts, ReLU and saturation, sign thresholds feeding binary (XNOR) convs and dense
layers, any of them last. A few cases in every hundred step
outside the limits on purpose (an accumulator narrower than rule 2's bound, a product
``acc·M + B`` past 52 bits, a negative shift, an input quantizer with another rounding
mode); those must be refused by the one load check, naming the node.

Every case is generated from a *choice sequence* (``Draws``): a list of non-negative
integers, each read as an offset from the low end of a range. Random generation appends
random choices; replaying a shorter or smaller list gives a smaller network. ``shrink``
minimises the list of a failing case (drop chunks, lower values) while the failure holds,
so a failure prints the smallest network that shows it (``describe``).

Backends: the NumPy reference (the oracle), qonnx execution and onnxruntime on the
standard-ONNX lowering (each network with all its images in one batch; merging many
networks into one graph was tried and is slower, qonnx's execution and shape inference
being quadratic in graph size), hls4ml C-simulation (``io_parallel``, ``io_stream``) and the
generated RTL on Verilator and Icarus (codes and per-image cycles against the model). A
backend that cannot take a network must refuse it with an ``AdderflowError`` naming a
node or layer of the model; any other exception, a wrong code or a wrong cycle count is a
failure.
"""

from __future__ import annotations

import random
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx

from adderflow.errors import AdderflowError
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.fixed import (
    BIPOLAR,
    MAX_BITS,
    MAX_PRODUCT_BITS,
    MAX_SHIFT,
    BipolarType,
    FixedType,
    RequantParams,
    Threshold,
    acc_bits_needed,
    adder_acc_bits,
    mul_acc_bits,
    requant_product_bits,
    xnor_acc_bits,
)
from adderflow.quant.spec import ComputeLayer, FlattenLayer, PoolLayer, QuantizedNetwork
from adderflow.sim.executor import check_contract, check_supported, output_name, run_reference

BACKENDS = (
    "reference",
    "qonnx",
    "onnxruntime",
    "hls_parallel",
    "hls_stream",
    "verilator",
    "icarus",
)
# Images per network: random codes, all-max, all-min, and one with ties and saturation.
IMAGES = 16
# Out-of-contract mutations, each of which the load check must refuse naming a node.
VIOLATIONS = ("narrow_acc", "wide_product", "negative_shift", "quant_rounding", "quant_narrow")


class Draws:
    """A choice sequence: ``int(lo, hi)`` reads the next choice as an offset from ``lo``
    (clamped to the range); past the end, or when replaying, missing choices are 0."""

    def __init__(self, choices: list[int] | None = None, rng: random.Random | None = None):
        self.choices = list(choices or [])
        self.rng = rng
        self.index = 0

    def int(self, lo: int, hi: int) -> int:
        if hi < lo:
            hi = lo
        if self.index < len(self.choices):
            v = self.choices[self.index]
        elif self.rng is not None:
            v = self.rng.randint(0, hi - lo)
            self.choices.append(v)
        else:
            v = 0
        self.index += 1
        return lo + min(v, hi - lo)

    def signed(self, lo: int, hi: int) -> int:
        """A value in ``[lo, hi]`` that shrinks towards 0 (zigzag: 0, -1, 1, -2, 2, ...)."""
        span = hi - lo
        v = self.int(0, span)
        value = (v + 1) // 2 * (1 if v % 2 == 0 else -1)
        return max(lo, min(hi, value))

    def bool(self, percent_true: int = 50) -> bool:
        return self.int(0, 99) < percent_true

    def array(self, shape: tuple[int, ...], lo: int, hi: int) -> np.ndarray:
        """Codes in ``[lo, hi]``: random, all-max, all-min or mixed extremes."""
        n = int(np.prod(shape))
        mode = self.int(0, 5)
        if mode == 1:
            return np.full(shape, hi, np.int64)
        if mode == 2:
            return np.full(shape, lo, np.int64)
        if mode == 3:
            return np.array([(lo, hi)[self.int(0, 1)] for _ in range(n)], np.int64).reshape(shape)
        return np.array([self.signed(lo, hi) for _ in range(n)], np.int64).reshape(shape)


@dataclass
class Case:
    """One fuzz case: the network, its IR model, float images, and what it violates."""

    choices: list[int]
    net: QuantizedNetwork
    images: np.ndarray
    violation: str | None = None
    model: onnx.ModelProto = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.model = build_qonnx(self.net, batch=len(self.images))
        if self.violation is not None:
            self.violation = _violate(self.model, self.violation, self.net)


def draw_case(d: Draws, allow_violations: bool = True) -> Case:
    """A network and images from the choice sequence ``d`` (see the module doc)."""
    bits = d.int(2, MAX_BITS)
    frac = d.int(0, 3)
    shape = (d.int(1, 3), d.int(1, 6), d.int(1, 6))
    in_type = FixedType(bits, frac)
    layers: list = []
    t, (c, h, w) = in_type, shape
    flat = False
    for i in range(d.int(1, 3)):
        choice = 3 if flat else d.int(0, 3)
        binary = isinstance(t, BipolarType)  # ±1 codes: only a binary layer reads them
        if choice <= 1:
            kind = "xnor" if binary else ("adder" if choice == 0 else "mul")
            layer = _conv(d, f"l{i}_conv", t, c, h, w, kind)
            _, c, h, w = _out_shape(layer, (c, h, w))
        elif choice == 2 and min(h, w) >= 2:
            k = d.int(2, min(h, w, 4))
            mode = "avg" if k in (2, 4) and not binary and d.bool() else "max"
            layers.append(PoolLayer(f"l{i}_pool", (k, k), (k, k), mode))
            h, w = h // k, w // k
            continue
        else:
            if not flat:
                layers.append(FlattenLayer(f"l{i}_flatten"))
                flat = True
            kind = "xnor" if binary else ("adder" if d.bool() else "mul")
            layer = _dense(d, f"l{i}_dense", t, c * h * w, kind)
            c, h, w = layer.weight.shape[0], 1, 1
        layers.append(layer)
        t = layer.out_type
    if not any(isinstance(layer, ComputeLayer) for layer in layers):
        if not flat:
            layers.append(FlattenLayer("tail_flatten"))
        kind = "xnor" if isinstance(t, BipolarType) else ("adder" if d.bool() else "mul")
        layers.append(_dense(d, "tail_dense", t, c * h * w, kind))
    layers = _widen_last(d, layers)
    net = QuantizedNetwork(in_type, shape, tuple(layers))
    violation = None
    if allow_violations and d.int(0, 99) >= 96:  # choice 0 (what shrinking tends to) is none
        violation = VIOLATIONS[d.int(0, len(VIOLATIONS) - 1)]
    return Case(d.choices, net, _images(d, in_type, shape), violation)


def _conv(d: Draws, name: str, t: FixedType, c: int, h: int, w: int, kind: str) -> ComputeLayer:
    square = d.bool(60)
    kh = d.int(1, 5)
    kw = kh if square else d.int(1, 5)
    stride = d.int(1, 3)
    strides = (stride, stride) if square else (stride, d.int(1, 3))
    pad = d.int(0, kh + 1)
    pads = (pad,) * 4 if d.bool(60) else tuple(d.int(0, k + 1) for k in (kh, kw, kh, kw))
    # Every window must fit the padded frame (an empty output is no network).
    kh = min(kh, h + pads[0] + pads[2])
    kw = min(kw, w + pads[1] + pads[3])
    out = d.int(1, 3)
    return _compute(d, name, t, (out, c, kh, kw), kind, strides, pads)


def _dense(d: Draws, name: str, t: FixedType, k: int, kind: str) -> ComputeLayer:
    return _compute(d, name, t, (d.int(1, 4), k), kind, (1, 1), (0, 0, 0, 0))


def _compute(d, name, t, wshape, kind: str, strides, pads) -> ComputeLayer:
    """A layer, its accumulator width and what ends it: a requantization (``M``, ``B``,
    shift within rule 9's product limit, output 2..16 bits, ReLU or not) or, one time in
    five, a sign threshold (rule 6) whose ±1 codes only a binary layer may read."""
    terms = int(np.prod(wshape[1:]))
    if kind == "xnor":
        w_type = BIPOLAR
        weight = d.array(wshape, 0, 1) * 2 - 1
        acc_bits = xnor_acc_bits(terms)
    else:
        w_type = t if kind == "adder" else FixedType(d.int(2, MAX_BITS), d.int(0, 3))
        weight = d.array(wshape, w_type.qmin, w_type.qmax)
        acc_bits = (
            adder_acc_bits(t.bits, terms)
            if kind == "adder"
            else mul_acc_bits(t.bits, w_type.bits, terms)
        )
        # The tightest honest width sometimes (the load check's exact bound), else rule 2's.
        if d.bool(30):
            acc_bits = max(2, acc_bits_needed(kind, t.bits, weight))
    out = wshape[0]
    if d.int(0, 99) >= 80:  # choice 0 (what shrinking tends to) is a requantization
        bound = terms if kind == "xnor" else 1 << (acc_bits - 1)
        ends = Threshold(d.array((out,), -bound, bound + 1), d.array((out,), 0, 1) * 2 - 1)
        return ComputeLayer(name, kind, weight, t, w_type, acc_bits, ends, BIPOLAR, False,
                            tuple(strides), tuple(pads))  # fmt: skip
    m_bits = d.int(1, 16)
    m_lim = (1 << (m_bits - 1)) - 1 if m_bits > 1 else 1
    multiplier = d.array((out,), -m_lim, m_lim)
    b_bits = d.int(1, 24)
    bias = d.array((out,), -(1 << (b_bits - 1)), (1 << (b_bits - 1)) - 1)
    shift = d.int(0, MAX_SHIFT) if d.bool(30) else d.int(0, min(MAX_SHIFT, acc_bits + m_bits))
    while requant_product_bits(acc_bits, multiplier, bias) > MAX_PRODUCT_BITS:
        multiplier, bias = multiplier // 2, bias // 2
    out_type = FixedType(d.int(2, MAX_BITS), d.int(0, 3))
    return ComputeLayer(
        name, kind, weight, t, w_type, acc_bits, RequantParams(multiplier, bias, shift),
        out_type, d.bool(40), tuple(strides), tuple(pads),
    )  # fmt: skip


def _widen_last(d: Draws, layers: list) -> list:
    """The last compute layer's output may be wider than a code (logits, up to 24 bits)."""
    from dataclasses import replace

    index = max(i for i, layer in enumerate(layers) if isinstance(layer, ComputeLayer))
    layer = layers[index]
    later = layers[index + 1 :]
    if isinstance(layer.out_type, BipolarType):
        return layers
    if d.bool(30) and not later:  # only the graph's output may be wider than a code
        t = FixedType(d.int(layer.out_type.bits, 24), layer.out_type.frac)
        layers = [*layers[:index], replace(layer, out_type=t), *later]
    return layers


def _out_shape(layer: ComputeLayer, chw: tuple[int, int, int]) -> tuple[int, int, int, int]:
    from adderflow.sim.ops.base import conv_output_shape

    return conv_output_shape((1, *chw), layer.weight.shape, layer.strides, layer.pads)


def _images(d: Draws, t: FixedType, shape: tuple[int, int, int]) -> np.ndarray:
    """Float images on the input grid: random codes, all-max, all-min, and one with rounding
    ties (codes + 1/2) and values past the range (saturation)."""
    codes = [d.array(shape, t.qmin, t.qmax) for _ in range(IMAGES - 3)]
    codes += [np.full(shape, t.qmax), np.full(shape, t.qmin)]
    images = [np.asarray(c, np.float64) for c in codes]
    ties = d.array(shape, t.qmin - 3, t.qmax + 3).astype(np.float64)
    ties += np.where(d.array(shape, 0, 1) > 0, 0.5, 0.0)
    images.append(ties)
    return (np.stack(images) * 2.0**-t.frac).astype(np.float32)


def _violate(model: onnx.ModelProto, violation: str, net: QuantizedNetwork) -> str:
    """Step outside one limit of rule 9 (or rule 5's input quantizer) in place."""
    from onnx import numpy_helper

    nodes = {n.op_type: n for n in model.graph.node}
    inits = {t.name: t for t in model.graph.initializer}
    requant = next((n for n in model.graph.node if n.op_type == "Requant"), None)
    if requant is None and violation in ("wide_product", "negative_shift"):
        violation = "narrow_acc"  # thresholds only: no requantization to break
    if violation == "narrow_acc":
        # One bit below the exact bound of the first layer's inputs and weights (1 bit, out
        # of every range, where that bound is already the 2-bit minimum).
        layer = next(n for n in model.graph.node if n.op_type in _LAYER_OPS)
        first = next(x for x in net.layers if isinstance(x, ComputeLayer))
        needed = acc_bits_needed(first.kind, net.input_type.bits, first.weight)
        _set_attr(layer, "out_bits", needed - 1)
    elif violation == "wide_product":
        m = inits[requant.input[1]]
        m.CopyFrom(numpy_helper.from_array(np.full(numpy_helper.to_array(m).shape, 1 << 50,
                                                   np.int64), m.name))  # fmt: skip
    elif violation == "negative_shift":
        _set_attr(requant, "shift", -1)
    elif violation == "quant_rounding":
        _set_attr(nodes["Quant"], "rounding_mode", "FLOOR")
    elif violation == "quant_narrow":
        _set_attr(nodes["Quant"], "narrow", 1)
    return violation


_LAYER_OPS = ("AdderConv", "IntConv", "AdderGemm", "IntGemm")


def _set_attr(node: onnx.NodeProto, name: str, value) -> None:
    for attribute in node.attribute:
        if attribute.name == name:
            node.attribute.remove(attribute)
            break
    node.attribute.append(onnx.helper.make_attribute(name, value))


def describe(case: Case) -> str:
    """The case as a few readable lines: the network, its parameters and images."""
    net = case.net
    lines = [f"input {net.input_type} shape {net.input_shape}"]
    for layer in net.layers:
        if isinstance(layer, ComputeLayer):
            rq = layer.requant
            ends = (
                f"threshold {rq.threshold.tolist()} direction {rq.direction.tolist()}"
                if isinstance(rq, Threshold)
                else f"M {rq.multiplier.tolist()} B {rq.bias.tolist()} s {rq.shift}"
            )
            lines.append(
                f"{layer.name}: {layer.kind} weight {list(layer.weight.shape)} "
                f"strides {layer.strides} pads {layer.pads} acc_bits {layer.acc_bits} "
                f"w {layer.weight.ravel().tolist()[:16]} | {ends} -> {layer.out_type} "
                f"relu {layer.relu}"
            )
        else:
            lines.append(f"{layer.name}: {layer}")
    codes = np.round(case.images.astype(np.float64) * 2.0**net.input_type.frac)
    lines.append(f"images (x 2**-{net.input_type.frac}): {codes.tolist()}")
    if case.violation:
        lines.append(f"violation: {case.violation}")
    lines.append(f"choices: {case.choices}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- checking


class Mismatch(AssertionError):
    """A backend computed different codes or cycles than the contract, or failed unnamed."""


def node_names(model: onnx.ModelProto) -> set[str]:
    return {n.name for n in model.graph.node if n.name}


def check_named(exc: BaseException, model: onnx.ModelProto, backend: str) -> None:
    """A refusal is an ``AdderflowError`` on one line that names a node of the model."""
    if not isinstance(exc, AdderflowError):
        raise Mismatch(f"{backend}: unnamed failure {type(exc).__name__}: {exc}") from exc
    text = str(exc)
    names = set(re.findall(r"(?:node|layer) '([^']+)'", text))
    if not names & (node_names(model) | _layer_prefixes(model)):
        raise Mismatch(f"{backend}: refusal names no node of the model: {text}") from exc


def _layer_prefixes(model: onnx.ModelProto) -> set[str]:
    return {n.output[0] for n in model.graph.node if n.output}


def expected_outcome(case: Case) -> np.ndarray | None:
    """The reference's output codes, or None when the load check refuses (as it must for a
    violation, and must not otherwise)."""
    try:
        check_supported(case.model)
        check_contract(case.model)
    except AdderflowError as exc:
        if case.violation is None:
            raise Mismatch(f"load check refused an in-contract network: {exc}") from exc
        check_named(exc, case.model, "load check")
        return None
    if case.violation is not None:
        raise Mismatch(f"load check accepted a '{case.violation}' violation")
    return run_reference(case.model, case.images)[output_name(case.model)]


def check_case(case: Case, backends: Iterable[str], workdir: Path) -> None:
    """Run ``case`` through ``backends`` one by one; raise ``Mismatch`` on any difference."""
    expected = expected_outcome(case)
    if expected is None:
        return
    for backend in backends:
        if backend == "reference":
            continue
        got = run_one(backend, case, workdir)
        if got is not None:
            compare(backend, expected, got)


def compare(backend: str, expected: np.ndarray, got: np.ndarray) -> None:
    got = np.asarray(got).reshape(expected.shape)
    if got.dtype.kind not in "iu" or not np.array_equal(got, expected):
        diff = np.argwhere(got != expected)[:3].tolist()
        raise Mismatch(f"{backend}: codes differ from the reference at {diff}")


# The hardware backends map fewer shapes than the IR holds and may refuse a network, by
# name; qonnx and onnxruntime execute every op of the IR, so any refusal of theirs on a
# network the load check accepted is a failure.
MAY_REFUSE = frozenset({"hls_parallel", "hls_stream", "verilator", "icarus"})


def run_one(backend: str, case: Case, workdir: Path) -> np.ndarray | None:
    """One backend's output codes for one case; None when a hardware backend refused by
    name (``MAY_REFUSE``)."""
    runner = RUNNERS[backend]
    try:
        return runner(case, workdir)
    except Mismatch:
        raise
    except Exception as exc:
        if backend not in MAY_REFUSE:
            raise Mismatch(f"{backend} refused an in-contract network: {exc}") from exc
        check_named(exc, case.model, backend)  # every refusal must be a named one
        return None


def _run_qonnx(case: Case, workdir: Path) -> np.ndarray:
    from adderflow.sim.executor import run_qonnx

    return run_qonnx(case.model, case.images)[output_name(case.model)]


def _run_onnxruntime(case: Case, workdir: Path) -> np.ndarray:
    from adderflow.export.lower_standard import lower_to_standard_onnx, run_onnxruntime

    lowered = lower_to_standard_onnx(case.model)
    return run_onnxruntime(lowered, case.images)[output_name(case.model)]


def _run_hls(io_type: str) -> Callable[[Case, Path], np.ndarray]:
    def run(case: Case, workdir: Path) -> np.ndarray:
        codes = run_reference(case.model, case.images)["input_codes"]
        return hls_codes(case.model, codes, workdir, io_type)

    return run


# Compiled hls4ml projects (and their library as built) by (io type, hash of the generated
# code without the weights).
_HLS_BUILDS: dict[tuple[str, str], tuple[object, Path]] = {}


def hls_codes(model: onnx.ModelProto, codes: np.ndarray, workdir: Path, io_type: str):
    """hls4ml C-simulation codes, one g++ build per generated code.

    hls4ml's C-simulation reads every weight array (our weights, multipliers, biases) from
    ``firmware/weights/*.txt`` on its first call (``WriteWeightsTxt``). A case whose project
    differs from a compiled one only there (``revalued`` keeps every width) is written, its
    ``.txt`` files copied into the compiled project, and a fresh copy of the compiled
    library loaded (new statics, so the weights are read again): ~1 s instead of a ~14 s
    build. Anything else in the generated code differing means a build of its own.
    """
    import ctypes
    import hashlib

    from adderflow.hw.hls4ml_backend.project import HlsProject, HlsSettings

    settings = HlsSettings(io_type=io_type.replace("hls_", "io_"))
    directory = Path(tempfile.mkdtemp(dir=workdir, prefix=f"{io_type}-"))
    project = HlsProject(model, directory, settings)
    project.write()
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file() and "weights" not in path.parts and path.suffix in (".cpp", ".h"):
            digest.update(str(path.relative_to(directory)).encode() + path.read_bytes())
    key = (io_type, digest.hexdigest())
    if key not in _HLS_BUILDS:
        project.compile()
        _HLS_BUILDS[key] = (project, Path(project._compiled()._top_function_lib._name))
        return project.predict(codes)
    base, library = _HLS_BUILDS[key]
    for txt in (directory / "firmware" / "weights").glob("*.txt"):
        shutil.copy(txt, base.directory / "firmware" / "weights" / txt.name)
    shutil.rmtree(directory, ignore_errors=True)
    graph = base._compiled()
    fresh = library.with_name(f"{library.stem}-{next(_COPIES)}{library.suffix}")
    shutil.copy(library, fresh)
    graph._top_function_lib = ctypes.cdll.LoadLibrary(str(fresh))
    return base.predict(codes)


_COPIES = __import__("itertools").count()


def _run_rtl(simulator: str) -> Callable[[Case, Path], np.ndarray]:
    def run(case: Case, workdir: Path) -> np.ndarray:
        codes = run_reference(case.model, case.images)["input_codes"]
        return rtl_codes(case.model, codes, workdir / f"rtl-{simulator}", simulator)

    return run


def rtl_codes(model: onnx.ModelProto, codes: np.ndarray, directory: Path, simulator: str):
    """Generate, simulate, and check every image's cycles against the model. The previous
    case's build folder is kept aside and put back, so cases whose ``af_network.v`` is the
    same (weights and parameters live in ``$readmemh`` files) reuse one compiled bench."""
    from adderflow.hw.network import generate
    from adderflow.hw.simulate import run_network

    cache = directory.with_name(directory.name + ".build")
    if (directory / "build").is_dir():
        shutil.rmtree(cache, ignore_errors=True)
        (directory / "build").rename(cache)
    design = generate(model, directory)
    if cache.is_dir():
        cache.rename(directory / "build")
    result = run_network(design, codes, simulator)
    if result.latencies != [design.cycles] * len(codes):
        raise Mismatch(
            f"{simulator}: measured cycles {result.latencies} differ from the model's "
            f"{design.cycles} per image"
        )
    return result.codes


RUNNERS: dict[str, Callable[[Case, Path], np.ndarray]] = {
    "qonnx": _run_qonnx,
    "onnxruntime": _run_onnxruntime,
    "hls_parallel": _run_hls("io_parallel"),
    "hls_stream": _run_hls("io_stream"),
    "verilator": _run_rtl("verilator"),
    "icarus": _run_rtl("icarus"),
}


# --------------------------------------------------------------------------- shrinking


def shrink(choices: list[int], fails: Callable[[Case], bool], budget: int = 2000) -> Case:
    """The smallest case (shortest, then smallest choices) for which ``fails`` holds.

    Hypothesis-style shrinking on the choice sequence: delete chunks, zero and halve
    single choices, lower a count while deleting the block after it; keep any change that
    still fails, until nothing does; ``budget`` bounds the attempts.
    """
    best = list(choices)
    tries = 0

    def attempt(candidate: list[int]) -> bool:
        nonlocal best, tries
        tries += 1
        try:
            case = draw_case(Draws(candidate))
        except AdderflowError:
            return False
        if fails(case):
            best = list(candidate)
            return True
        return False

    improved = True
    while improved and tries < budget:
        improved = False
        for size in (8, 4, 2, 1):
            i = 0
            while i < len(best) and tries < budget:
                if attempt(best[:i] + best[i + size :]):
                    improved = True
                else:
                    i += size
        for i in range(len(best)):
            if tries >= budget:
                break
            for smaller in (0, best[i] // 2, best[i] - 1):
                if 0 <= smaller < best[i] and attempt(best[:i] + [smaller] + best[i + 1 :]):
                    improved = True
                    break
        # A count lowered together with the block it counted (one layer fewer): neither
        # change alone keeps the failure, since the choices after it shift.
        for i in range(len(best)):
            if tries >= budget or i >= len(best) or best[i] == 0:
                continue
            for size in range(1, min(48, len(best) - i)):
                if attempt(best[:i] + [best[i] - 1] + best[i + 1 + size :]):
                    improved = True
                    break
    return draw_case(Draws(best))


def fails_with(backends: Iterable[str], workdir: Path) -> Callable[[Case], bool]:
    backends = tuple(backends)

    def fails(case: Case) -> bool:
        try:
            check_case(case, backends, workdir)
        except Mismatch:
            return True
        return False

    return fails


def random_cases(seed: int, count: int, allow_violations: bool = True) -> list[Case]:
    rng = random.Random(seed)
    return [draw_case(Draws(rng=rng), allow_violations) for _ in range(count)]


# --------------------------------------------------------------------------- families


def _redrawn_ends(ends, redraw):
    if isinstance(ends, Threshold):
        return Threshold(redraw(ends.threshold), redraw(ends.direction, signs=True))
    return RequantParams(redraw(ends.multiplier), redraw(ends.bias), ends.shift)


def _revalued_layer(layer: ComputeLayer, redraw) -> ComputeLayer:
    """New values for one layer. Accumulators take rule 2's width (binary: ``K``), which
    holds any weights of the type; the exact bound of the base's weights might not hold
    the redrawn ones. ``M`` and ``B`` are halved, as drawn, until the product fits."""
    from dataclasses import replace

    signs = layer.kind == "xnor"
    if signs:
        acc_bits = xnor_acc_bits(layer.terms)
    elif layer.kind == "adder":
        acc_bits = adder_acc_bits(layer.in_type.bits, layer.terms)
    else:
        acc_bits = mul_acc_bits(layer.in_type.bits, layer.w_type.bits, layer.terms)
    ends = layer.requant
    if isinstance(ends, RequantParams):
        m, b = ends.multiplier, ends.bias
        while requant_product_bits(acc_bits, m, b) > MAX_PRODUCT_BITS:
            m, b = m // 2, b // 2
        ends = RequantParams(m, b, ends.shift)
    return replace(layer, weight=redraw(layer.weight, signs), acc_bits=acc_bits,
                   requant=_redrawn_ends(ends, redraw))  # fmt: skip


def revalued(case: Case, rng: np.random.Generator) -> Case:
    """``case``'s structure with new weights, multipliers, biases and images, drawn over
    the same ranges with each array's minimum and maximum kept in place: every width the
    generators derive from values stays the same, so the generated RTL (``af_network.v``;
    values live in ``$readmemh`` files) is the same text and one compiled bench serves all.
    """
    from dataclasses import replace

    def redraw(a: np.ndarray, signs: bool = False) -> np.ndarray:
        a = np.asarray(a, np.int64)
        if a.size == 0:
            return a
        lo, hi = int(a.min()), int(a.max())
        if signs:  # ±1 codes: no 0 between them
            new = rng.choice(np.array(sorted({lo, hi}), np.int64), size=a.shape)
        else:
            new = rng.integers(lo, hi + 1, size=a.shape, dtype=np.int64)
        new.flat[int(a.argmin())], new.flat[int(a.argmax())] = lo, hi
        return new

    layers = [
        _revalued_layer(layer, redraw) if isinstance(layer, ComputeLayer) else layer
        for layer in case.net.layers
    ]
    net = replace(case.net, layers=tuple(layers))
    t = net.input_type
    codes = rng.integers(t.qmin, t.qmax + 1, size=case.images.shape, dtype=np.int64)
    codes[0], codes[1] = t.qmax, t.qmin
    images = (codes.astype(np.float64) * 2.0**-t.frac).astype(np.float32)
    return Case(case.choices, net, images, None)
