"""hls4ml backend: conversion errors, and g++ C-simulation equal to the reference, exactly.

Each end-to-end case writes an hls4ml project, compiles it (~10-20 s) and compares every
tensor hls4ml traces with the NumPy reference, integer for integer.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from networks import calibrated, images, random_network, tie_images, tie_network
from onnx import helper
from tools import require_module, require_tool

from adderflow.errors import AdderflowError, ModelFormatError
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.fixed import FixedType, RequantParams
from adderflow.hw.hls4ml_backend import HlsProject, HlsSettings, convert
from adderflow.quant.spec import ComputeLayer, FlattenLayer, QuantizedNetwork
from adderflow.sim.compare import compare, format_table
from adderflow.sim.executor import run_reference


def _require_hls4ml() -> None:
    require_module("hls4ml", "pip install -e '.[hls]'")
    require_tool("g++", "apt-get install -y g++")


def _csim_equals_reference(model: onnx.ModelProto, x: np.ndarray, tmp_path, **settings) -> None:
    _require_hls4ml()
    reference = run_reference(model, x)
    project = HlsProject(model, tmp_path / "prj", HlsSettings(**settings))
    project.write()
    got = project.trace(reference["input_codes"])
    comparison = compare(model, reference, got)
    # Every layer's tensor came back, not only the output.
    assert len(comparison.layers) == len(model.graph.node) - 3, format_table(comparison)
    assert comparison.first is None, comparison.first.describe("reference", "hls4ml")


CASES = [
    # k, stride, pad, channels, hidden, bits, io_type, reuse
    (1, 1, 0, 3, "adder", 8, "io_parallel", 1),
    (3, 2, 1, 5, "adder", 4, "io_stream", 3),
    (5, 1, 1, 7, "adder", 8, "io_parallel", 7),
    (3, 1, 1, 5, "adder", 6, "io_stream", 1),
    (1, 2, 0, 6, "mul", 8, "io_stream", 4),
]


@pytest.mark.parametrize("k,stride,pad,channels,hidden,bits,io_type,reuse", CASES)
def test_random_layers_match_reference(
    tmp_path, k, stride, pad, channels, hidden, bits, io_type, reuse
):
    x = images(seed=k * 10 + stride)
    net = random_network(bits, 3, None, k, stride, pad, channels, hidden)
    model = build_qonnx(calibrated(net, x))
    _csim_equals_reference(model, x, tmp_path, io_type=io_type, reuse_factor=reuse)


@pytest.mark.parametrize(
    "extreme,level,io_type", [("max", -1e3, "io_parallel"), ("min", 1e3, "io_stream")]
)
def test_extreme_codes_do_not_wrap(tmp_path, extreme, level, io_type):
    """Weights at one end of the range, inputs at the other: the largest |x - w| sums."""
    net = random_network(8, 1, extreme, 3, 1, 1, 5)
    x = np.full((2, 1, 8, 8), level, dtype=np.float32)
    _csim_equals_reference(build_qonnx(net), x, tmp_path, io_type=io_type, reuse_factor=2)


def _requant_net(multiplier: np.ndarray, bias: np.ndarray, shift: int, relu: bool):
    """Identity dense layer then a requantizer: every input code meets the rounding rule."""
    t = FixedType(8, 0)
    head = ComputeLayer(
        "head", "mul", np.eye(16, dtype=np.int64), t, t, 20,
        RequantParams(multiplier, bias, shift), FixedType(5, 0), relu,
    )  # fmt: skip
    return QuantizedNetwork(t, (1, 4, 4), (FlattenLayer("flat"), head))


@pytest.mark.parametrize("relu", [False, True])
def test_requant_rounds_half_even_and_saturates(tmp_path, relu):
    rng = np.random.default_rng(5)
    multiplier = rng.integers(-3, 4, 16)
    bias = rng.integers(-4, 5, 16)
    model = build_qonnx(_requant_net(multiplier, bias, 2, relu))
    # All 256 input codes, 16 per image: ties (odd multiples of 2 after * M + B) and
    # saturation at the 5-bit output both occur.
    x = np.arange(-128, 128, dtype=np.float32).reshape(16, 1, 4, 4)
    _csim_equals_reference(model, x, tmp_path, io_type="io_parallel")


@pytest.mark.parametrize("io_type", ["io_parallel", "io_stream"])
def test_avg_pool_matches_reference(tmp_path, io_type):
    """``IntAvgPool`` (af_pool_avg): a network with a 2x2 mean, then 2x2 and 4x4 means of
    tie blocks (half to even and half-up disagree) with all-max and all-min images."""
    x = images(seed=21)
    net = calibrated(random_network(8, 3, None, 3, 1, 1, 3, "adder", pool="avg"), x)
    _csim_equals_reference(build_qonnx(net), x, tmp_path / "net", io_type=io_type)
    k, bits = (2, 8) if io_type == "io_parallel" else (4, 16)
    _csim_equals_reference(
        build_qonnx(tie_network(k, bits)), tie_images(k, bits), tmp_path / "ties", io_type=io_type
    )


def test_avg_pool_area_not_a_power_of_two_is_named():
    model = build_qonnx(random_network(8, pool="avg"))
    _with_attr(model, "pool", kernel_shape=[3, 3], strides=[3, 3])
    with pytest.raises(ModelFormatError, match=r"layer 'pool' \(IntAvgPool\).*area 9"):
        convert(model)


def _with_attr(model: onnx.ModelProto, node_name: str, **attrs) -> onnx.ModelProto:
    node = next(n for n in model.graph.node if n.name == node_name)
    for key, value in attrs.items():
        for i, attribute in enumerate(node.attribute):
            if attribute.name == key:
                node.attribute[i].CopyFrom(helper.make_attribute(key, value))
    return model


def test_unsupported_op_is_named():
    model = build_qonnx(random_network(8))
    node = next(n for n in model.graph.node if n.op_type == "IntMaxPool")
    node.op_type = "XnorConv"
    with pytest.raises(ModelFormatError, match=rf"layer '{node.name}'.*XnorConv"):
        convert(model)


def test_unsupported_width_is_named():
    model = build_qonnx(random_network(8))
    node = next(n for n in model.graph.node if n.op_type == "AdderConv")
    _with_attr(model, node.name, out_bits=60)
    with pytest.raises(ModelFormatError, match=rf"layer '{node.name}'.*60-bit"):
        convert(model)


def test_dense_after_flatten_reads_channels_last():
    """The converter permutes the dense weights so a channels-last flatten feeds them."""
    net = random_network(8, channels=2)
    model = build_qonnx(net)
    dense = next(layer for layer in convert(model).layers if layer["name"] == "dense_acc")
    c, hw = 4, 4  # channels + 2, pooled 4x4
    ir = net.layers[4].weight.reshape(6, c, hw, hw)
    assert np.array_equal(dense["weight_data"], ir.transpose(0, 2, 3, 1).reshape(6, -1))


def test_bad_settings_are_refused():
    model = build_qonnx(random_network(8))
    with pytest.raises(AdderflowError, match="io type 'io_serial'"):
        HlsProject(model, "unused", HlsSettings(io_type="io_serial"))


@pytest.mark.slow
def test_run_and_hls_command_record_csim_equivalence(tmp_path):
    import json

    from adderflow.cli import main

    _require_hls4ml()
    out = tmp_path / "run"
    assert main(["run", "--quick", "--out", str(out), "--set", "rtl.enabled=false"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["equivalence"]["hls4ml_csim"] == {"samples": 16, "mismatches": 0}
    assert (out / "hls4ml" / "io_parallel" / "firmware" / "adderflow_net.cpp").is_file()

    assert main(["hls", str(out), "--io-type", "io_stream", "--samples", "5"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["hls4ml"]["io_stream"]["samples"] == 5
    assert metrics["equivalence"]["hls4ml_csim"] == {"samples": 5, "mismatches": 0}


# --- issue 18: padding >= kernel in io_stream, and an empty-stream read fails the run ------


def _pad_beyond_kernel(pads=(1, 1, 1, 1), shape=(1, 1, 1), k: int = 1) -> onnx.ModelProto:
    t = FixedType(4, 0)
    conv = ComputeLayer("conv", "adder", np.full((1, shape[0], k, k), 2, np.int64), t, t,
                        8, RequantParams(np.ones(1, np.int64), np.zeros(1, np.int64), 0),
                        FixedType(8, 0), False, (1, 1), pads)  # fmt: skip
    return build_qonnx(QuantizedNetwork(t, shape, (conv,)))


@pytest.mark.parametrize("io_type", ["io_stream", "io_parallel"])
def test_padding_at_least_kernel(tmp_path, io_type):
    """x=3, w=2, k=1, pad=1: io_stream returned all zeros with a stderr warning (issue 18)."""
    _require_hls4ml()
    model = _pad_beyond_kernel()
    project = HlsProject(model, tmp_path / "prj", HlsSettings(io_type=io_type))
    project.compile()
    out = project.predict(np.full((1, 1, 1, 1), 3))
    np.testing.assert_array_equal(out[0, 0], [[-2, -2, -2], [-2, -1, -2], [-2, -2, -2]])


def test_padding_beyond_kernel_uneven_io_stream(tmp_path):
    """Top padding past a 2x2 kernel on a 3x2 frame: every row comes out, codes exact."""
    _require_hls4ml()
    model = _pad_beyond_kernel(pads=(4, 1, 3, 0), shape=(1, 3, 2), k=2)
    x = np.arange(-3, 3, dtype=np.float32).reshape(1, 1, 3, 2)
    _csim_equals_reference(model, x, tmp_path, io_type="io_stream")


def test_max_rows_per_input_clips_above_the_image():
    from adderflow.hw.hls4ml_backend.convert import _max_rows_per_input, last_input_row

    a = dict(out_height=3, stride_height=1, filt_height=1, pad_top=1, in_height=1)
    assert [last_input_row(a, oh) for oh in range(3)] == [0, 0, 0]
    assert _max_rows_per_input(a) == 3


def test_reading_an_empty_stream_fails_the_run(tmp_path):
    """hls::stream's read-while-empty warning, printed by native code, raises."""
    import ctypes

    from adderflow.hw.hls4ml_backend.project import checked_streams

    libc = ctypes.CDLL(None)
    with pytest.raises(AdderflowError, match="read the empty stream.*layer2_out"):
        with checked_streams(tmp_path):
            libc.printf(b"WARNING: Hls::stream 'layer2_out' is read while empty\n")
    with checked_streams(tmp_path):  # other output passes through
        libc.printf(b"a harmless line\n")


# --- issue 21 [J2]: graph networks (forks, joins, every op J1 added) ----------------------


def every_op_net(bits: int, seed: int) -> QuantizedNetwork:
    """One small network with every graph op, so one g++ build per io type covers them:

        input ─ grouped adder conv (group 2) ─ depthwise mul conv (pads 1,0,1,2) ─ max pool
          │       3x3 s2 padded ─┬─ IntAdd (shifted) ─┬─ 1x1 mul conv ─┐
          └── 1x1 s2 mul projection ─┘                └────────────────┴─ Concat ─┬─ sum pool
        (global 4x4) ─ 1x1 gate conv ─ IntLut (sigmoid) ─ IntMul with the Concat ─┘ ─ global
        4x4 average pool ─ flatten ─ dense head

    Forks: the input, the join and the concatenation are each read twice (io_stream clones).
    """
    from graph_networks import _add, _calibrated, _compute, _rq, _sum_pool

    from adderflow.fixed import code_bits, lookup_table
    from adderflow.quant.spec import INPUT, ConcatLayer, LutLayer, MulLayer, PoolLayer

    rng = np.random.default_rng(seed)
    t_in, t1, t2, tp, tj = (FixedType(bits, f) for f in (3, 2, 3, 1, 3))
    tx, tg, t_sig = FixedType(bits, 2), FixedType(bits, bits // 2), FixedType(bits, bits - 1)
    mul_bits = code_bits(np.array([tj.qmin * t_sig.qmax, tj.qmax * t_sig.qmax, tj.qmin]))
    layers = (
        _compute(rng, "grouped", "adder", t_in, 6, 4, 3, t1, pads=(1, 1, 1, 1), groups=2),
        _compute(rng, "dw", "mul", t1, 6, 6, 3, t2, pads=(1, 0, 1, 2), groups=6, relu=False),
        PoolLayer("pool", (3, 3), (2, 2), pads=(1, 1, 1, 1)),
        _compute(
            rng, "proj", "mul", t_in, 6, 4, 1, tp, strides=(2, 2), relu=False, inputs=(INPUT,)
        ),
        _add(rng, "join", ("pool", "proj"), (t2, tp), 6, tj),
        _compute(rng, "cheap", "mul", tj, 2, 6, 1, tj),
        ConcatLayer("cat", ("join", "cheap")),
        _sum_pool(rng, "squeeze", tj, 8, 4, tx),
        _compute(rng, "gate", "mul", tx, 8, 8, 1, tg, relu=False),
        LutLayer("sig", lookup_table(lambda v: 1 / (1 + np.exp(-v)), tg, t_sig), t_sig),
        MulLayer("excite", ("cat", "sig"), mul_bits, _rq(rng, 8, mul_bits, bits), tj),
        PoolLayer("gap", (4, 4), (4, 4), "avg"),
        FlattenLayer("flat"),
        _compute(rng, "head", "mul", tj, 3, 8, None, FixedType(16, 4), relu=False),
    )
    return _calibrated(QuantizedNetwork(t_in, (4, 8, 8), layers), seed)


def _graph_samples(net: QuantizedNetwork, seed: int) -> np.ndarray:
    """Random codes, one all-max and one all-min image (past the quantizer's range)."""
    from graph_networks import inputs

    parts = [inputs(net, 4, seed), inputs(net, 1, fill="max"), inputs(net, 1, fill="min")]
    return np.concatenate(parts)


# (network, bits, seed) per io type: each io type compiles each network once.
GRAPH_CASES = [
    ("every_op", 8, 1, "io_parallel"),
    ("every_op", 5, 2, "io_stream"),
    ("one_d", 6, 3, "io_parallel"),
    ("one_d", 8, 4, "io_stream"),
]


def _graph_net(name: str, bits: int, seed: int) -> QuantizedNetwork:
    from graph_networks import GRAPHS

    return every_op_net(bits, seed) if name == "every_op" else GRAPHS[name](bits, seed=seed)


@pytest.mark.parametrize("name,bits,seed,io_type", GRAPH_CASES)
def test_graph_network_matches_reference_on_every_tensor(tmp_path, name, bits, seed, io_type):
    """Every traced tensor equal to the reference, extremes included, one build per case."""
    net = _graph_net(name, bits, seed)
    model = build_qonnx(net)
    _csim_equals_reference(model, _graph_samples(net, seed), tmp_path, io_type=io_type)
    if name == "every_op" and io_type == "io_stream":
        # hls4ml's own clone pass duplicated each stream read twice (input, join, cat).
        top = (tmp_path / "prj" / "firmware" / "adderflow_net.cpp").read_text()
        assert top.count("nnet::clone_stream<") == 3, top


def test_a_reshape_across_channels_is_named():
    """[C, H, W] -> [C', ...] with C' != C moves codes between channels-last packets."""
    from graph_ops import reshape_ir

    model = reshape_ir(4, (4, 2, 3), target=[0, 2, 4, 3])
    out = next(vi for vi in model.graph.value_info if vi.name == "as2d_out")
    for dim, size in zip(out.type.tensor_type.shape.dim[1:], (2, 4, 3), strict=True):
        dim.dim_value = size
    with pytest.raises(
        ModelFormatError, match=r"layer 'as2d' \(Reshape\): reshaping \[4, 2, 3\] to \[2, 4, 3\]"
    ):
        convert(model)


def test_every_op_net_has_every_graph_op_and_forks():
    model = build_qonnx(every_op_net(8, 1))
    ops = {n.op_type for n in model.graph.node}
    assert {"IntAdd", "IntSumPool", "IntMul", "IntLut", "Concat", "IntMaxPool", "IntAvgPool"} <= ops
    groups = {n.name: a.i for n in model.graph.node for a in n.attribute if a.name == "group"}
    assert groups == {"grouped": 2, "dw": 6}
    readers: dict[str, int] = {}
    for node in model.graph.node:
        for name in node.input:
            readers[name] = readers.get(name, 0) + 1
    assert readers["input_codes"] == readers["join_out"] == readers["cat_out"] == 2


# The sweep: every graph network of tests/graph_networks.py (the binary one aside), three
# widths, both io types (36 builds: all passed in 17.7 min on the shared 2 cores). CI runs
# the cases above; this sweep is opt-in: `pytest -m sweep tests/test_hls4ml.py`.
SWEEP_NETWORKS = (
    "residual_identity", "residual_projection", "concat", "sum_pool", "one_d", "squeeze_excite",
)  # fmt: skip
SWEEP = [
    (name, bits, io_type)
    for name in SWEEP_NETWORKS
    for bits in (2, 8, 16)
    for io_type in ("io_parallel", "io_stream")
]


@pytest.mark.sweep
@pytest.mark.parametrize("name,bits,io_type", SWEEP)
def test_graph_network_sweep(tmp_path, name, bits, io_type):
    net = _graph_net(name, bits, bits)
    model = build_qonnx(net)
    _csim_equals_reference(model, _graph_samples(net, bits), tmp_path, io_type=io_type)


def test_one_layer_reading_one_stream_twice(tmp_path):
    """``Concat(x, x)`` in io_stream: hls4ml's clone pass gives the layer two copies."""
    from graph_ops import concat_ir
    from graph_ops import images as graph_images

    model = concat_ir(4, branch=False)
    shape = (2, 4, 5)
    x = np.concatenate(
        [graph_images(4, shape, 4), *(graph_images(4, shape, 1, fill=f) for f in ("max", "min"))]
    )
    _csim_equals_reference(model, x, tmp_path, io_type="io_stream")
    top = (tmp_path / "prj" / "firmware" / "adderflow_net.cpp").read_text()
    assert top.count("nnet::clone_stream<") == 1, top


def test_a_forked_project_builds_again_in_io_stream(tmp_path):
    """``write()`` then ``compile()`` build hls4ml's graph twice. hls4ml rewires a fork's
    readers' ``inputs`` lists in place (``<tensor>_cpyN``); the conversion's lists were
    shared with the first build, so the second read clones it had not made and crashed in
    our join template (``'NoneType' object has no attribute 'name'``: 22 of 33 graph fuzzer
    cases through io_stream, seed 36 the smallest)."""
    _require_hls4ml()
    from graph_networks import residual_identity

    model = build_qonnx(residual_identity(6))
    project = HlsProject(model, tmp_path / "prj", HlsSettings(io_type="io_stream"))
    inputs = [list(layer.get("inputs", [])) for layer in project.conversion.layers]
    for _ in range(2):
        project.write()
        assert [layer.get("inputs", []) for layer in project.conversion.layers] == inputs
        top = (tmp_path / "prj" / "firmware" / "adderflow_net.cpp").read_text()
        assert top.count("nnet::clone_stream<") == 1, top
