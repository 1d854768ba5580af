"""Binary layers in the IR (DESIGN.md rule 6): packed-bit weights, XNOR/popcount
accumulators, batch norm + sign folded into integer thresholds, every backend exact."""

from __future__ import annotations

import os
from dataclasses import replace
from fractions import Fraction

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.export.lower_standard import lower_to_standard_onnx, run_onnxruntime
from adderflow.export.passes import run_passes, standard_flow
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.fixed import (
    BIPOLAR,
    FixedType,
    RequantParams,
    Threshold,
    binarize,
    fit_threshold,
    mul_acc_bits,
    pack_bits,
    signed_bits,
    unpack_bits,
    xnor_acc_bits,
)
from adderflow.quant.integer_model import run_integer_model
from adderflow.quant.spec import ComputeLayer, FlattenLayer, PoolLayer, QuantizedNetwork
from adderflow.sim import reference
from adderflow.sim.compare import compare
from adderflow.sim.executor import check_contract, run_qonnx, run_reference

torch.set_num_threads(1)
os.environ.setdefault("OMP_NUM_THREADS", "1")


# --------------------------------------------------------------------------- helpers


def _pm(rng, shape) -> np.ndarray:
    return rng.choice(np.array([-1, 1], dtype=np.int64), size=shape)


def _bit_loop_conv(x, w, strides, pads) -> np.ndarray:
    """Binary convolution the slow way: per output, per tap, XNOR of bits and a popcount;
    taps in the zero padding do not vote. Python integers throughout."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    top, left, bottom, right = pads
    ho = (h + top + bottom - kh) // strides[0] + 1
    wo = (wd + left + right - kw) // strides[1] + 1
    out = np.zeros((n, o, ho, wo), dtype=np.int64)
    for b in range(n):
        for oc in range(o):
            for i in range(ho):
                for j in range(wo):
                    ones = votes = 0
                    for ci in range(c):
                        for dy in range(kh):
                            for dx in range(kw):
                                y, xx = i * strides[0] + dy - top, j * strides[1] + dx - left
                                if not (0 <= y < h and 0 <= xx < wd):
                                    continue
                                a_bit = int(x[b, ci, y, xx] > 0)
                                w_bit = int(w[oc, ci, dy, dx] > 0)
                                ones += 1 - (a_bit ^ w_bit)  # xnor
                                votes += 1
                    out[b, oc, i, j] = 2 * ones - votes
    return out


def binary_network(
    seed: int = 0,
    k: int = 3,
    stride: int = 1,
    pad: int = 1,
    channels: tuple[int, int, int] = (5, 7, 3),
    extreme: str | None = None,
) -> QuantizedNetwork:
    """stem (IntConv → BinaryThreshold) → XnorConv → BinaryThreshold → pool → XnorConv 1x1
    → BinaryThreshold → flatten → XnorGemm → Requant → IntGemm head; random parameters
    (or all weights +1 / -1 with ``extreme="plus"``/``"minus"``)."""
    rng = np.random.default_rng(seed)
    c1, c2, c3 = channels
    t = FixedType(8, 3)

    def pm(shape):
        if extreme == "plus":
            return np.ones(shape, dtype=np.int64)
        if extreme == "minus":
            return -np.ones(shape, dtype=np.int64)
        return _pm(rng, shape)

    def thr(c, terms):
        return Threshold(rng.integers(-terms // 2, terms // 2 + 1, c), rng.choice([-1, 1], c))

    h1 = (8 + 2 * pad - k) // stride + 1
    h2 = (h1 + 2 * pad - k) // stride + 1
    hp = h2 // 2
    flat = c3 * hp * hp
    stem_acc = mul_acc_bits(8, 8, k * k)
    stem = ComputeLayer(
        "stem", "mul", rng.integers(-128, 128, (c1, 1, k, k)), t, t, stem_acc,
        Threshold(rng.integers(-3000, 3000, c1), rng.choice([-1, 1], c1)), BIPOLAR, False,
        (stride, stride), (pad,) * 4,
    )  # fmt: skip
    x1 = ComputeLayer(
        "x1", "xnor", pm((c2, c1, k, k)), BIPOLAR, BIPOLAR, xnor_acc_bits(c1 * k * k),
        thr(c2, c1 * k * k), BIPOLAR, False, (stride, stride), (pad,) * 4,
    )  # fmt: skip
    x2 = ComputeLayer(
        "x2", "xnor", pm((c3, c2, 1, 1)), BIPOLAR, BIPOLAR, xnor_acc_bits(c2), thr(c3, c2),
        BIPOLAR, False,
    )  # fmt: skip
    act = FixedType(8, 7)
    xg = ComputeLayer(
        "xg", "xnor", pm((6, flat)), BIPOLAR, BIPOLAR, xnor_acc_bits(flat),
        RequantParams(rng.integers(1, 2**10, 6), rng.integers(-(2**10), 2**10, 6), 6), act, False,
    )  # fmt: skip
    head_acc = mul_acc_bits(8, 8, 6)
    bias = rng.integers(-100, 100, 3)
    head = ComputeLayer(
        "head", "mul", rng.integers(-128, 128, (3, 6)), act, t, head_acc,
        RequantParams(np.ones(3, np.int64), bias, 0),
        FixedType(signed_bits(2 ** (head_acc - 1) + 100), 10), False,
    )  # fmt: skip
    layers = (stem, x1, PoolLayer("pool", (2, 2), (2, 2)), x2, FlattenLayer("flat"), xg, head)
    return QuantizedNetwork(t, (1, 8, 8), layers)


def images(seed: int, n: int = 6) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-4, 4, (n, 1, 8, 8)).astype(np.float32)


# --------------------------------------------------------------------------- packing


@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (4, 8), (5, 9), (2, 3, 3, 3), (7, 5, 1, 1)])
def test_packed_weights_round_trip(shape):
    codes = _pm(np.random.default_rng(sum(shape)), shape)
    packed = pack_bits(codes)
    terms = int(np.prod(shape[1:]))
    assert packed.dtype == np.uint8 and packed.shape == (shape[0], (terms + 7) // 8)
    tail = np.unpackbits(packed, axis=1, bitorder="little")[:, terms:]
    assert not tail.any()
    assert np.array_equal(unpack_bits(packed, shape), codes)


def test_packing_order_is_lsb_first_one_for_plus():
    codes = np.array([[1, -1, -1, 1, -1, -1, -1, -1, 1]])  # terms 0, 3 and 8 are +1
    assert pack_bits(codes).tolist() == [[0b00001001, 0b00000001]]


def test_packing_refuses_bad_codes_and_tails():
    with pytest.raises(QuantizationError, match="-1 or \\+1"):
        pack_bits(np.array([[1, 0, -1]]))
    packed = pack_bits(np.ones((2, 5), dtype=np.int64))
    packed[1, 0] |= 0b10000000  # bit 7: past K = 5
    with pytest.raises(QuantizationError, match="tail bits"):
        unpack_bits(packed, (2, 5))
    with pytest.raises(QuantizationError, match="uint8"):
        unpack_bits(packed.astype(np.int64), (2, 5))


# --------------------------------------------------------------------------- the reference


GEOMETRIES = [
    # (cin, cout, kernel, stride, pad, size): odd channel counts, K not a multiple of 8
    (1, 1, 1, 1, 0, 5),
    (3, 5, 1, 2, 0, 6),
    (3, 5, 3, 1, 1, 5),
    (5, 3, 3, 2, 1, 7),
    (7, 2, 3, 1, 0, 6),
    (1, 4, 3, 2, 1, 4),
    (9, 3, 3, 1, 1, 4),
]


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_reference_conv_equals_bit_loop(geometry):
    cin, cout, k, stride, pad, size = geometry
    rng = np.random.default_rng(cin * 100 + cout * 10 + k)
    x = _pm(rng, (2, cin, size, size))
    w = _pm(rng, (cout, cin, k, k))
    strides, pads = (stride, stride), (pad,) * 4
    got = reference.xnor_conv(x, pack_bits(w), w.shape, strides, pads)
    assert np.array_equal(got, _bit_loop_conv(x, w, strides, pads))
    # Σ a·w with zero padding (what BinaryConv2d trains) is the same number.
    assert np.array_equal(got, reference.int_conv(x, w, strides, pads))


@pytest.mark.parametrize("terms", [1, 7, 8, 9, 13, 64, 100])
def test_reference_gemm_equals_dot_product(terms):
    rng = np.random.default_rng(terms)
    x, w = _pm(rng, (4, terms)), _pm(rng, (5, terms))
    got = reference.xnor_gemm(x, pack_bits(w))
    assert np.array_equal(got, x @ w.T)
    bits_agree = ((x[:, None, :] > 0) == (w[None, :, :] > 0)).sum(-1)
    assert np.array_equal(got, 2 * bits_agree - terms)


@pytest.mark.parametrize("x_sign", [1, -1])
@pytest.mark.parametrize("w_sign", [1, -1])
def test_extremes_reach_plus_minus_k(x_sign, w_sign):
    cin, k, size = 5, 3, 4
    x = np.full((1, cin, size, size), x_sign, dtype=np.int64)
    w = np.full((3, cin, k, k), w_sign, dtype=np.int64)
    acc = reference.xnor_conv(x, pack_bits(w), w.shape, (1, 1), (1, 1, 1, 1))
    taps = cin * k * k
    assert np.all(acc[:, :, 1:-1, 1:-1] == x_sign * w_sign * taps)  # interior: ±K
    assert np.all(acc[:, :, 0, 0] == x_sign * w_sign * cin * 4)  # corner: 4 taps vote
    assert np.abs(acc).max() <= taps < 2 ** (xnor_acc_bits(taps) - 1)
    x_flat, w_flat = x[:, :, :2, :2].reshape(1, -1), w[:, :, :2, :2].reshape(3, -1)
    dense = reference.xnor_gemm(x_flat, pack_bits(w_flat))
    assert np.all(dense == x_sign * w_sign * cin * 4)


def test_reference_refuses_non_bipolar_codes():
    w = pack_bits(np.ones((1, 2, 1, 1), dtype=np.int64))
    with pytest.raises(ValueError, match="-1 and \\+1"):
        reference.xnor_conv(np.zeros((1, 2, 2, 2), dtype=np.int64), w, (1, 2, 1, 1))


# --------------------------------------------------------------------------- thresholds


def _exact_sign(slope: Fraction, intercept: Fraction, acc: int) -> int:
    return 1 if slope * acc + intercept >= 0 else -1


def test_threshold_folding_exact_at_ties():
    # ties at integer accumulators: 0.5·3 − 1.5 = 0, −0.25·3 + 0.75 = 0, 0·acc + 0 = 0
    slope = [0.5, -0.25, 0.0, 0.0, 2.0**-20]
    intercept = [-1.5, 0.75, 0.0, -1e-30, -(2.0**-20) * 7]
    folded = fit_threshold(slope, intercept, acc_bound=20)
    acc = np.arange(-20, 21)
    got = binarize(np.tile(acc, (len(slope), 1)).T, folded.threshold, folded.direction)
    for c, (a, b) in enumerate(zip(slope, intercept, strict=True)):
        want = [_exact_sign(Fraction(a), Fraction(b), int(v)) for v in acc]
        assert got[:, c].tolist() == want, c
    assert got[acc.tolist().index(3), 0] == 1 and got[acc.tolist().index(2), 0] == -1
    assert got[acc.tolist().index(3), 1] == 1 and got[acc.tolist().index(4), 1] == -1
    assert folded.direction.tolist() == [1, -1, 1, 1, 1]
    assert folded.threshold.tolist()[2:4] == [-20, 21]  # constant +1 / constant -1


def test_threshold_folding_matches_exact_sign_on_random_parameters():
    rng = np.random.default_rng(7)
    bound = 50
    slope = rng.normal(size=40) * 10.0 ** rng.integers(-3, 3, 40)
    intercept = rng.normal(size=40) * 30
    intercept[:10] = -slope[:10] * rng.integers(-bound, bound, 10)  # near-ties in float64
    folded = fit_threshold(slope, intercept, bound)
    acc = np.arange(-bound, bound + 1)
    got = binarize(np.tile(acc, (40, 1)).T, folded.threshold, folded.direction)
    for c in range(40):
        want = [_exact_sign(Fraction(slope[c]), Fraction(intercept[c]), int(v)) for v in acc]
        assert got[:, c].tolist() == want
    assert np.all(np.abs(folded.threshold) <= bound + 1)


def test_threshold_folding_refuses_non_finite():
    with pytest.raises(QuantizationError, match="b7: non-finite"):
        fit_threshold([np.inf], [0.0], 4, layer="b7")


# --------------------------------------------------------------------------- the IR, four ways


CASES = [
    dict(k=3, stride=1, pad=1),
    dict(k=3, stride=2, pad=1, channels=(3, 5, 1)),
    dict(k=1, stride=1, pad=0, channels=(7, 9, 5)),
    dict(k=1, stride=2, pad=0),
    dict(k=3, stride=1, pad=0, channels=(1, 3, 3)),
    dict(extreme="plus"),
    dict(extreme="minus"),
]


@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_reference_torch_qonnx_onnxruntime_agree_on_every_tensor(case):
    net = binary_network(seed=len(str(case)), **case)
    model = build_qonnx(net)
    check_contract(model)
    x = images(len(str(case)))
    ref = run_reference(model, x)
    assert set(np.unique(ref["x1_out"])) <= {-1, 1}
    backends = {
        "torch": run_integer_model(net, x),
        "qonnx": run_qonnx(model, x),
        "onnxruntime": run_onnxruntime(lower_to_standard_onnx(model, expose_layers=True), x),
    }
    for name, got in backends.items():
        result = compare(model, ref, got)
        assert result.first is None, (name, result.first)
        assert result.mismatches == 0 and len(result.layers) >= 12, name


def test_every_lowering_pass_keeps_the_codes():
    model = build_qonnx(binary_network(seed=3))
    messages: list[str] = []
    lowered = run_passes(model, standard_flow(), images(3), messages.append)
    assert any("lower XnorConv" in m for m in messages)
    assert any("lower BinaryThreshold" in m for m in messages)
    assert {n.domain for n in lowered.graph.node} <= {""}


def test_weights_are_stored_as_packed_bits():
    net = binary_network(seed=1)
    model = build_qonnx(net)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    nodes = {n.name: n for n in model.graph.node}
    for layer in (layer for layer in net.layers if getattr(layer, "kind", "") == "xnor"):
        packed = inits[f"{layer.name}_weight"]
        node = nodes[layer.name]
        shape = next(a.ints for a in node.attribute if a.name == "weight_shape")
        assert node.op_type in ("XnorConv", "XnorGemm")
        assert packed.dtype == np.uint8 and list(shape) == list(layer.weight.shape)
        assert packed.size == layer.weight.shape[0] * ((layer.weight[0].size + 7) // 8)
        assert np.array_equal(unpack_bits(packed, tuple(shape)), layer.weight)
    # The standard-ONNX export keeps them packed too (unpacked in the graph).
    lowered = lower_to_standard_onnx(model)
    kept = {t.name: t.data_type for t in lowered.graph.initializer}
    assert kept["x1_weight"] == onnx.TensorProto.UINT8
    datatypes = {
        a.tensor_name: kv.value
        for a in model.graph.quantization_annotation
        for kv in a.quant_parameter_tensor_names
    }
    assert datatypes["stem_out"] == "BIPOLAR" and datatypes["pool_out"] == "BIPOLAR"
    assert datatypes["x1_acc"] == f"INT{xnor_acc_bits(5 * 9)}"


# --------------------------------------------------------------------------- loading checks


def _node(model, name):
    return next(n for n in model.graph.node if n.name == name)


def _set_init(model, name, value):
    for i, t in enumerate(model.graph.initializer):
        if t.name == name:
            model.graph.initializer[i].CopyFrom(numpy_helper.from_array(value, name))


def test_contract_refuses_a_binary_layer_on_multi_bit_codes():
    net = binary_network()
    stem = net.layers[0]
    model = build_qonnx(replace(net, layers=(replace(stem, requant=RequantParams(
        np.ones(5, np.int64), np.zeros(5, np.int64), 0), out_type=FixedType(8, 0)),
        *net.layers[1:])))  # fmt: skip
    with pytest.raises(QuantizationError, match=r"node 'x1' \(XnorConv\): input 'stem_out'.*±1"):
        check_contract(model)


def test_contract_refuses_a_binary_layer_on_scaled_bipolar_codes():
    """A Mul by 2 of ±1 codes keeps their width but makes them ±2: no longer ±1 codes (only
    a flatten or a max pool passes ±1 codes on)."""
    model = build_qonnx(binary_network())
    model.graph.initializer.append(numpy_helper.from_array(np.array(2, np.int64), "two"))
    _node(model, "x1").input[0] = "stem_out_x2"
    at = list(model.graph.node).index(_node(model, "stem_threshold")) + 1
    model.graph.node.insert(at, helper.make_node("Mul", ["stem_out", "two"], ["stem_out_x2"]))
    with pytest.raises(QuantizationError, match=r"node 'x1' \(XnorConv\): input 'stem_out_x2'.*±1"):
        check_contract(model)


def test_contract_refuses_bad_packed_weights_and_directions():
    model = build_qonnx(binary_network())
    bad = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == "x1_weight"))
    bad = bad.copy()
    bad[0, -1] |= 0b10000000  # K = 45: bit 47 is tail
    _set_init(model, "x1_weight", bad)
    with pytest.raises(ModelFormatError, match=r"node 'x1' \(XnorConv\).*tail bits"):
        check_contract(model)
    model = build_qonnx(binary_network())
    _set_init(model, "x1_direction", np.array([1, 0, 1, 1, 1, 1, 1], dtype=np.int64))
    with pytest.raises(QuantizationError, match=r"x1_threshold' \(BinaryThreshold\).*\+1 or -1"):
        check_contract(model)
    model = build_qonnx(binary_network())
    attr = next(a for a in _node(model, "x1").attribute if a.name == "out_bits")
    attr.CopyFrom(helper.make_attribute("out_bits", 4))
    with pytest.raises(QuantizationError, match=r"node 'x1'.*out_bits 4 cannot hold"):
        check_contract(model)


# --------------------------------------------------------------------------- cost, import


def test_cost_model_counts_xnor_and_popcount_never_zero():
    from adderflow.sim.cost import MAC_OPS, as_ann, twins

    model = build_qonnx(binary_network())
    ann = as_ann(model)
    assert ann.uncounted == []
    layers = {layer.node: layer for layer in ann.layers}
    k = 5 * 9
    outputs = 7 * 8 * 8
    assert layers["x1"].ops["xnor"] == {"int1": outputs * k}
    assert layers["x1"].ops["popcount"] == {"int1": outputs * k}
    assert layers["x1"].count("mul") == 0
    assert layers["x1"].weight_bits == 7 * ((k + 7) // 8) * 8  # packed bytes
    assert layers["x1"].act_read_bits == 5 * 64  # one bit per ±1 code
    assert layers["x1_threshold"].ops == {"cmp": {f"int{xnor_acc_bits(k)}": outputs}}
    assert layers["xg"].count("xnor") == 6 * 3 * 4 * 4
    assert {"XnorConv", "XnorGemm"} <= MAC_OPS
    t = twins(model)
    assert t.bnn is not None and t.bnn.uncounted == [] and t.cnn.uncounted == []
    assert t.cnn.total("xnor") == ann.total("xnor")  # binary layers stay binary


def test_import_report_states_binary_adder_and_multiplication_layers(tmp_path):
    from adderflow.export.importer import import_model

    path = tmp_path / "bin.onnx"
    onnx.save(build_qonnx(binary_network()), str(path))
    report = import_model(path)
    hardware = {layer.name: layer.hardware for layer in report.layers}
    assert hardware == {
        "stem": "mult", "x1": "binary", "x2": "binary", "xg": "binary", "head": "mult"
    }  # fmt: skip
    x1 = next(layer for layer in report.layers if layer.name == "x1")
    assert x1.weight.label() == "bin" and x1.activation.label() == "bin"
    assert x1.weight_shape == (7, 5, 3, 3) and x1.mults == 0 and x1.xnors > 0
    assert not x1.eligible and "XNOR + popcount" in x1.reasons[0]
    table = report.format_table()
    assert "in hardware: 3 binary (XNOR + popcount), 0 adder, 2 multiplication layers" in table
    assert report.to_dict()["totals"]["binary_layers"] == 3


# --------------------------------------------------------------------------- backends refuse


def test_rtl_generator_maps_binary_layers(tmp_path):
    """The RTL generator maps binary layers (simulated in tests/test_rtl_network.py)."""
    from adderflow.hw.network import generate

    design = generate(build_qonnx(binary_network()), tmp_path / "rtl")
    kinds = [(layer["name"], layer["mode"], layer["post"]) for layer in design.layers]
    assert kinds == [
        ("stem", "mac", "threshold"),
        ("x1", "xnor", "threshold"),
        ("x2", "xnor", "threshold"),
        ("xg", "xnor", "requant"),
        ("head", "mac", "requant"),
    ]


def test_hls4ml_converter_refuses_binary_layers_by_name():
    from adderflow.hw.hls4ml_backend.convert import convert

    with pytest.raises(ModelFormatError, match=r"layer 'x1' \(XnorConv\) is binary.*hls4ml"):
        convert(build_qonnx(binary_network()))


# --------------------------------------------------------------------------- PTQ of BlockNets


def test_squeeze_interaction_units_go_through_the_graph_front_end():
    """The line quantizer refuses SI units naming the block; ``quantize_network`` sends a
    BlockNet with them to ``graph_binary`` (tests/test_graph_binary.py), whose network the
    torch integer model and the reference run alike."""
    from adderflow.models import digits_net
    from adderflow.quant.binary_ptq import quantize_binary_network
    from adderflow.quant.ptq import quantize_network
    from adderflow.quant.spec import LutLayer

    model = digits_net("binary", width=4, si=True).eval()
    calib = np.random.default_rng(0).uniform(0, 1, (8, 1, 8, 8)).astype(np.float32)
    with pytest.raises(QuantizationError, match=r"block 1 \(ConvBlock\.conv\): SqueezeInter"):
        quantize_binary_network(model, calib)
    net = quantize_network(model, calib)
    assert any(isinstance(layer, LutLayer) for layer in net.layers)
    model_ir = build_qonnx(net)
    ref = run_reference(model_ir, calib)
    assert compare(model_ir, ref, run_integer_model(net, calib)).first is None


def test_ptq_refuses_binary_weights_with_real_inputs():
    from adderflow.models import digits_net
    from adderflow.quant.binary_ptq import quantize_binary_network

    model = digits_net("binary", width=4)
    model.blocks[2].conv.binary_input = False
    calib = np.random.default_rng(0).uniform(0, 1, (8, 1, 8, 8)).astype(np.float32)
    with pytest.raises(QuantizationError, match=r"block 2 \(ConvBlock\).*binary_input=False"):
        quantize_binary_network(model, calib)


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory):
    """A binary digits student trained a few epochs (width 4) through the pipeline, then
    quantized and verified: ``(run, its metrics)``."""
    from adderflow.config import load_config
    from adderflow.pipeline import stage_function
    from adderflow.runs import open_run

    overrides = [
        "distill.method=none",
        "distill.student=binary",
        "model.width=4",
        "student.epochs=4",
        "quant.debug_passes=true",
    ]
    cfg = load_config(None, overrides, quick=True)
    run = open_run(tmp_path_factory.mktemp("binary") / "run", cfg)
    for stage in ("student", "quantize", "verify", "rtl", "hls"):
        stage_function(stage)(run)
    return run, run.metrics()


def test_pipeline_exports_and_verifies_a_binary_student(binary_run):
    run, metrics = binary_run
    for name in ("torch_vs_reference", "qonnx_exec", "onnxruntime"):
        assert metrics["equivalence"][name] == {"samples": 360, "mismatches": 0}, name
    q = metrics["quantized"]
    assert q["mode"] == "ptq" and 0.8 <= q["agreement_with_float"] <= 1.0
    assert q["accuracy"] > 0.3
    assert metrics["cost"]["ann"]["uncounted"] == []
    assert metrics["cost"]["ann"]["total"]["xnor"] > 0
    ops = [n.op_type for n in onnx.load(str(run.paths.model)).graph.node]
    assert ops.count("XnorConv") == 2 and ops.count("BinaryThreshold") == 2
    # The RTL maps binary layers: bit-exact and cycle-exact on the simulated samples.
    assert "rtl" not in metrics.get("skipped", {})
    assert metrics["equivalence"]["rtl_verilator"]["mismatches"] == 0
    sim = metrics["rtl"]["simulation"]["verilator"]
    assert sim["cycles_measured"] == [sim["cycles_model"]]
    assert "hls" in metrics["skipped"]
    log = (run.out / "log.txt").read_text()
    assert "[hls] skipped: binary layers" in log


def test_thresholds_reproduce_the_float_binary_layers_exactly(binary_run):
    """Given the same ±1 input codes, each thresholded binary layer of the integer network
    equals sign(BN(binary conv)) of the float model on every element: only float32
    rounding could differ, and on the digits test split nothing does."""
    from adderflow.quantize_flow import quantized_network
    from adderflow.train_flow import trained_model

    run, _ = binary_run
    model = trained_model(run, "student")
    net = quantized_network(run, model)
    codes = run_integer_model(net, run.data.test_x)
    checked = 0
    for index in (1,):  # b1 feeds b2 (thresholded); b2 feeds the dense layer (requantized)
        block = model.blocks[index]
        before = "b0_mul_conv_out" if index == 1 else f"b{index - 1}_pool_out"
        with torch.no_grad():
            z = block.bn(block.conv(torch.from_numpy(codes[before]).float()))
        want = torch.where(z >= 0, 1, -1).numpy()
        got = codes[f"b{index}_xnor_conv_out"]
        assert np.array_equal(got, want)
        checked += got.size
    assert checked == 360 * 4 * 8 * 8


def test_binary_students_fine_tune_by_qat(binary_run, tmp_path):
    """QAT of a binary student (``quant.graph_binary_qat``) exports codes that every
    backend reproduces."""
    from adderflow.quantize_flow import stage_quantize
    from adderflow.runs import derive_run
    from adderflow.verify_flow import stage_verify

    run, _ = binary_run
    derived = derive_run(run.out, tmp_path / "qat", ["quant.mode=qat", "quant.qat_epochs=1"])
    stage_quantize(derived)
    stage_verify(derived)
    metrics = derived.metrics()
    assert metrics["quantized"]["mode"] == "qat"
    for name in ("torch_vs_reference", "qonnx_exec", "onnxruntime"):
        assert metrics["equivalence"][name] == {"samples": 360, "mismatches": 0}, name
