"""``IntAvgPool`` end to end: ``round_half_even(window sum / k²)`` with ``k²`` a power of two.

Hand-computed ties (where half-to-even and half-up disagree), all-max and all-min codes at
several widths, and the reference, the qonnx execution, the torch integer model and
onnxruntime (standard-ONNX lowering) compared code for code on networks holding an average
pool; PTQ (and QAT) mapping of ``nn.AvgPool2d`` and global ``nn.AdaptiveAvgPool2d(1)``;
refusals of a non-power-of-two area naming the node or layer; cost and import.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from networks import calibrated, images, random_network, tie_images, tie_network
from onnx import helper
from torch import nn

from adderflow.errors import AdderflowError, QuantizationError
from adderflow.export.lower_standard import lower_to_standard_onnx, run_onnxruntime
from adderflow.export.passes import run_passes, standard_flow
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.fixed import FixedType, avg_pool_shift
from adderflow.models import BlockNet, ConvBlock, DenseBlock, Flatten
from adderflow.nn import AdderConv2d
from adderflow.quant.integer_model import pool_codes, run_integer_model
from adderflow.quant.ptq import avg_pool_layer, quantize_network
from adderflow.quant.spec import FlattenLayer, PoolLayer, QuantizedNetwork
from adderflow.sim import reference
from adderflow.sim.compare import compare
from adderflow.sim.cost import estimate
from adderflow.sim.executor import check_contract, run_qonnx, run_reference

# ---- the rule itself -------------------------------------------------------------------


def test_shift_is_log2_of_a_power_of_two_area():
    assert [avg_pool_shift((k, k), (k, k), "p") for k in (1, 2, 4, 8, 16)] == [0, 2, 4, 6, 8]


@pytest.mark.parametrize(
    "kernel, strides, message",
    [
        ((3, 3), (3, 3), "layer 'x': average pool 3x3: area 9 is not a power of two"),
        ((6, 6), (6, 6), "area 36 is not a power of two"),
        ((2, 4), (2, 4), "kernel \\[2, 4\\] is not square"),
        ((2, 2), (1, 1), "strides \\[1, 1\\] differ from its kernel \\[2, 2\\]"),
    ],
)
def test_other_windows_are_refused_by_name(kernel, strides, message):
    with pytest.raises(QuantizationError, match=message):
        avg_pool_shift(kernel, strides, "layer 'x'")


def _blocks(values: list[list[int]], k: int) -> np.ndarray:
    """``[1, 1, k, k·len(values)]``: block ``j`` holds ``values[j]`` in raster order."""
    return np.concatenate([np.array(v).reshape(k, k) for v in values], axis=1)[None, None]


def test_reference_rounds_ties_to_even_by_hand():
    # 2x2 sums 6, 10, -6, -10, 2, -2, 14, 7, 5 → means 1.5, 2.5, -1.5, -2.5, 0.5, -0.5, 3.5,
    # 1.75, 1.25 → 2, 2, -2, -2, 0, 0, 4, 2, 1 (half-up would give 2, 3, -1, -2, 1, 0, 4 ...).
    x = _blocks(
        [[1, 1, 2, 2], [2, 2, 3, 3], [-1, -1, -2, -2], [-2, -2, -3, -3], [0, 0, 1, 1],
         [0, 0, -1, -1], [3, 3, 4, 4], [1, 2, 2, 2], [1, 1, 1, 2]],
        2,
    )  # fmt: skip
    got = reference.avg_pool(x, (2, 2), (2, 2))
    assert got.ravel().tolist() == [2, 2, -2, -2, 0, 0, 4, 2, 1]
    # 4x4: sums 8 (0.5 → 0), 24 (1.5 → 2), -40 (-2.5 → -2), 9 (0.5625 → 1).
    x4 = _blocks([[1] * 8 + [0] * 8, [2] * 8 + [1] * 8, [-3] * 8 + [-2] * 8, [1] * 9 + [0] * 7], 4)
    assert reference.avg_pool(x4, (4, 4), (4, 4)).ravel().tolist() == [0, 2, -2, 1]


def test_reference_drops_the_rows_no_window_covers():
    x = np.arange(5 * 5).reshape(1, 1, 5, 5)
    assert reference.avg_pool(x, (2, 2), (2, 2)).tolist() == [[[[3, 5], [13, 15]]]]


@pytest.mark.parametrize("bits", [2, 4, 8, 16])
@pytest.mark.parametrize("k", [2, 4, 8])
def test_all_max_and_all_min_codes_average_to_themselves(bits, k):
    t = FixedType(bits, 0)
    for code in (t.qmax, t.qmin):
        x = np.full((2, 3, 2 * k, k), code, dtype=np.int64)
        ref = reference.avg_pool(x, (k, k), (k, k))
        assert ref.shape == (2, 3, 2, 1) and np.all(ref == code)
        torch_codes = pool_codes(PoolLayer("p", (k, k), (k, k), "avg"), torch.from_numpy(x * 1.0))
        assert np.array_equal(torch_codes.numpy().astype(np.int64), ref)


def test_torch_pool_equals_reference_on_every_tie_residue():
    """All residues of the 2x2 and 4x4 sums modulo the area, at 8 bits, through the
    float64 torch twin and the integer reference (and Python's own half-even ``round``)."""
    rng = np.random.default_rng(0)
    for k in (2, 4):
        x = rng.integers(-128, 128, size=(64, 2, 4 * k, 4 * k))
        ref = reference.avg_pool(x, (k, k), (k, k))
        got = pool_codes(PoolLayer("p", (k, k), (k, k), "avg"), torch.from_numpy(x * 1.0))
        assert np.array_equal(got.numpy().astype(np.int64), ref)
        sums = x.reshape(64, 2, 4, k, 4, k).sum(axis=(3, 5))
        assert set(np.unique(sums % (k * k))) == set(range(k * k))
        exact = np.vectorize(lambda s, a=k * k: round(Fraction(int(s), a)))(sums)
        assert np.array_equal(exact, ref)


# ---- networks through every executor ---------------------------------------------------


def _all_backends_agree(net: QuantizedNetwork, x: np.ndarray) -> dict[str, np.ndarray]:
    """Reference == qonnx execution == torch integer model == onnxruntime, every tensor."""
    model = build_qonnx(net)
    check_contract(model)
    ref = run_reference(model, x)
    lowered = lower_to_standard_onnx(model, expose_layers=True)
    for name, got in (
        ("qonnx", run_qonnx(model, x)),
        ("torch", run_integer_model(net, x)),
        ("onnxruntime", run_onnxruntime(lowered, x)),
    ):
        result = compare(model, ref, got)
        assert result.first is None, (name, result.first)
        pools = [n.output[0] for n in model.graph.node if n.op_type == "IntAvgPool"]
        assert pools and all(p in got for p in pools), name  # the pools were compared too
    return ref


@pytest.mark.parametrize("k, bits", [(2, 8), (2, 2), (4, 16), (8, 4)])
def test_ties_through_every_backend(k, bits):
    x = tie_images(k, bits, seed=k + bits)
    ref = _all_backends_agree(tie_network(k, bits), x)
    codes = x.astype(np.int64)
    sums = codes.reshape(len(x), 1, 8 // k, k, 8 // k, k).sum(axis=(3, 5))
    expected = np.vectorize(lambda s: round(Fraction(int(s), k * k)))(sums)  # half to even
    assert np.array_equal(ref["pool_out"], expected)
    assert np.array_equal(ref["head_out"], expected.reshape(len(x), -1))
    half_up = (sums + k * k // 2) // (k * k)
    assert np.any(ref["pool_out"] != half_up)  # the data tells the two rules apart


@pytest.mark.parametrize("bits", [2, 4, 8, 16])
def test_random_network_with_avg_pool_through_every_backend(bits):
    x = images(bits)
    net = calibrated(random_network(bits, seed=bits, pool="avg"), x)
    _all_backends_agree(net, x)


@pytest.mark.parametrize("extreme", ["max", "min"])
@pytest.mark.parametrize("bits", [2, 8, 16])
def test_extreme_networks_with_avg_pool(bits, extreme):
    net = random_network(bits, seed=2, extreme=extreme, pool="avg")
    x = np.full((3, 1, 8, 8), 1e6 if extreme == "max" else -1e6, dtype=np.float32)
    _all_backends_agree(net, x)


def test_lowering_pass_keeps_every_code():
    x = images(4)
    model = build_qonnx(calibrated(random_network(8, seed=4, pool="avg"), x))
    lowered = run_passes(model, standard_flow(), debug_x=x)
    assert "IntAvgPool" not in {n.op_type for n in lowered.graph.node}
    assert {n.domain for n in lowered.graph.node} <= {""}


# ---- refusals at IR load ---------------------------------------------------------------


def _set_attrs(model, op_type: str, **attrs):
    node = next(n for n in model.graph.node if n.op_type == op_type)
    for key, value in attrs.items():
        for i, attribute in enumerate(node.attribute):
            if attribute.name == key:
                node.attribute[i].CopyFrom(helper.make_attribute(key, value))
    return node


@pytest.mark.parametrize(
    "attrs, message",
    [
        ({"kernel_shape": [3, 3], "strides": [3, 3]}, "area 9 is not a power of two"),
        ({"kernel_shape": [2, 2], "strides": [1, 1]}, "differ from its kernel"),
        ({"out_bits": 4}, "out_bits 4 is narrower than its input"),
    ],
)
def test_ir_load_refuses_a_bad_avg_pool_naming_the_node(attrs, message):
    model = build_qonnx(random_network(8, pool="avg"))
    node = _set_attrs(model, "IntAvgPool", **attrs)
    with pytest.raises(QuantizationError, match=rf"node '{node.name}' \(IntAvgPool\).*{message}"):
        check_contract(model)


def test_ir_load_refuses_an_average_of_binary_codes_naming_the_node():
    from binary_networks import binary_images, binary_ir

    model = binary_ir(binary_images(0, 4))
    node = next(n for n in model.graph.node if n.op_type == "IntMaxPool")
    node.op_type = "IntAvgPool"  # same attributes, over a BinaryThreshold's ±1 codes
    with pytest.raises(QuantizationError, match=rf"node '{node.name}' \(IntAvgPool\).*±1 codes"):
        check_contract(model)


def test_lowering_refuses_a_non_power_of_two_area_naming_the_node():
    from adderflow.export import lower_standard

    model = build_qonnx(random_network(8, pool="avg"))
    node = _set_attrs(model, "IntAvgPool", kernel_shape=[3, 3], strides=[3, 3])
    with pytest.raises(AdderflowError, match=rf"node '{node.name}' \(IntAvgPool\).*area 9"):
        lower_standard.lower_ops(model, ("IntAvgPool",))


def test_qonnx_execution_refuses_a_non_power_of_two_area_naming_the_node():
    model = build_qonnx(random_network(8, pool="avg"))
    node = _set_attrs(model, "IntAvgPool", kernel_shape=[3, 3], strides=[3, 3])
    with pytest.raises(AdderflowError, match=rf"node '{node.name}' \(IntAvgPool\).*area 9"):
        run_qonnx(model, images(0))


def test_pool_layer_refuses_area_9_and_avg_over_bipolar_codes():
    with pytest.raises(QuantizationError, match="layer 'p3': average pool 3x3: area 9"):
        PoolLayer("p3", (3, 3), (3, 3), "avg")
    with pytest.raises(QuantizationError, match="pool mode 'mean'"):
        PoolLayer("p", (2, 2), (2, 2), "mean")


# ---- PTQ and QAT ----------------------------------------------------------------------


def avg_blocknet(
    pool: nn.Module | None = None,
    global_pool: nn.Module | None = None,
    pad: int = 1,
    features: int = 6,
) -> BlockNet:
    """stem conv 8×8 → AvgPool2d(2) → adder conv 4×4 → global average → linear classifier."""
    torch.manual_seed(0)
    blocks = [
        ConvBlock(nn.Conv2d(1, 4, 3, padding=1, bias=False)),
        pool if pool is not None else nn.AvgPool2d(2),
        ConvBlock(AdderConv2d(4, 6, 3, padding=pad)),
        global_pool if global_pool is not None else nn.AdaptiveAvgPool2d(1),
        Flatten(),
        DenseBlock(nn.Linear(features, 3), hidden=False),
    ]
    model = BlockNet(blocks, "adder")
    model.train()
    with torch.no_grad():  # batch-norm statistics from data, so requantizers are not trivial
        model(torch.from_numpy(images(9, n=64)))
    return model.eval()


def test_ptq_maps_avg_pool_and_global_average_pool():
    model = avg_blocknet()
    x = images(1, n=32)
    net = quantize_network(model, x, bits=8)
    pools = [layer for layer in net.layers if isinstance(layer, PoolLayer)]
    assert [(p.name, p.kernel, p.strides, p.mode) for p in pools] == [
        ("b1_avg_pool", (2, 2), (2, 2), "avg"),
        ("b3_avg_pool", (4, 4), (4, 4), "avg"),
    ]
    model_ir = build_qonnx(net)
    assert [n.op_type for n in model_ir.graph.node].count("IntAvgPool") == 2
    ref = _all_backends_agree(net, x)
    assert ref["b3_avg_pool_out"].shape == (32, 6, 1, 1)
    # The integer network tracks the float one (the pools add no error of their own).
    logits = model(torch.from_numpy(x)).detach().numpy()
    codes = ref["b5_mul_dense_out"] * 2.0**-net.output_type.frac
    assert np.mean(np.argmax(codes, 1) == np.argmax(logits, 1)) >= 0.8


def test_ptq_layers_before_an_average_pool_do_not_saturate():
    """The layer before a pool writes its codes in the next layer's input type; calibrated
    on the pool's output alone (a mean, smaller than its inputs' peak) it would clip."""
    model, x = avg_blocknet(), images(1, n=32)
    net = quantize_network(model, x, bits=8)
    codes = run_integer_model(net, x)
    for name in ("b0_mul_conv_out", "b2_adder_conv_out"):  # ReLU outputs: 0..127
        assert 0 <= codes[name].min() and codes[name].max() < 127, name


@pytest.mark.parametrize(
    "pool, global_pool, pad, features, message",
    [
        (nn.AvgPool2d(3), None, 1, 6, r"layer 'b1_avg_pool' \(block 1, AvgPool2d\).*area 9"),
        (nn.AvgPool2d(2, padding=1), None, 1, 6, r"'b1_avg_pool'.*padding"),
        (nn.AvgPool2d(2, stride=1), None, 1, 6, r"'b1_avg_pool'.*strides \[1, 1\] differ"),
        (None, nn.AdaptiveAvgPool2d(2), 1, 24, r"'b3_avg_pool'.*output size 2 is not 1"),
        # AvgPool2d(1) keeps the 8×8 frame, the unpadded 3×3 adder conv leaves 6×6.
        (nn.AvgPool2d(1), None, 0, 6, r"'b3_avg_pool'.*AdaptiveAvgPool2d.*area 36 is not a"),
    ],
)
def test_ptq_refuses_what_is_not_a_power_of_two_mean(pool, global_pool, pad, features, message):
    model = avg_blocknet(pool, global_pool, pad, features)
    with pytest.raises(QuantizationError, match=message):
        quantize_network(model, images(1, n=8), bits=8)


def test_ptq_refuses_a_global_pool_whose_frame_is_not_known():
    """After a flatten, or on a 1-D input, there is no frame to take the kernel from."""
    pool = nn.AdaptiveAvgPool2d(1)
    for shape, layers in (((1, 8, 8), [FlattenLayer("b0_flatten")]), ((1, 40), [])):
        with pytest.raises(QuantizationError, match=r"'b4_avg_pool'.*frame it pools is not"):
            avg_pool_layer(4, pool, shape, layers)
    assert avg_pool_layer(4, pool, (1, 8, 8), []).kernel == (8, 8)


def test_qat_export_keeps_avg_pools_and_fake_quant_agrees():
    from adderflow.quant.qat import qat_network, run_fake_quant, to_qat

    x = images(3, n=16)
    qat = to_qat(avg_blocknet(), x, bits=8)
    net = qat_network(qat, x.shape[1:])
    assert [p.mode for p in net.layers if isinstance(p, PoolLayer)] == ["avg", "avg"]
    fake = run_fake_quant(qat, net, x)
    ints = run_integer_model(net, x)
    for name in ("b1_avg_pool_out", "b3_avg_pool_out", "b5_mul_dense_out"):
        assert np.array_equal(fake[name], ints[name]), name


# ---- cost and import -------------------------------------------------------------------


def test_cost_counts_additions_and_a_shift_no_multiplier():
    model = build_qonnx(tie_network(4, 8))
    result = estimate(model, "ann")
    assert result.uncounted == []
    pool = next(layer for layer in result.layers if layer.op_type == "IntAvgPool")
    # 4 outputs, each 15 additions of the 16 codes + 1 rounding add, at 8 + 4 bits; 1 shift.
    assert pool.ops == {"add": {"int12": 4 * 16}, "shift": {"int12": 4}}


def test_import_reads_an_ir_with_avg_pool(tmp_path):
    import onnx

    from adderflow.export.importer import import_model

    path = tmp_path / "avg.qonnx.onnx"
    onnx.save(build_qonnx(random_network(8, pool="avg")), path)
    report = import_model(path)
    assert [layer.hardware for layer in report.layers] == ["mult", "adder", "adder", "mult"]
    assert report.cost.uncounted == []
    assert any(layer.op_type == "IntAvgPool" for layer in report.cost.layers)


def test_area_estimate_covers_average_pool_windows(tmp_path):
    """Fitted apart (``window-avg``): the stored lane is the block's sum, BITS + log2(POOL²)
    bits, so an average-pool window costs more than a max-pool one of the same frame."""
    from adderflow.hw import area_estimate as est
    from adderflow.hw.network import generate

    design = generate(build_qonnx(random_network(8, seed=1, pool="avg")), tmp_path / "rtl")
    total, rows = est.design_estimate(design)
    assert total.luts > 0 and len(rows) == len(design.layers)
    assert est.avg_stored_bits(8, 4) == 12 and est.avg_stored_bits(6, 2) == 8
    avg, top = est.window_estimate(4, 8, 64, "avg", 4), est.window_estimate(4, 8, 64)
    assert avg.luts > top.luts and avg.ffs != top.ffs
    assert est.window_estimate(4, 8, 64, "avg", 1).luts == top.luts  # no pool: no sum
