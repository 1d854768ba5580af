"""Window geometries and grouped convolutions through the generated RTL, exactly.

1-D networks (a signal ``[N, C, L]`` entering the IR through ``Reshape`` to ``[N, C, 1,
L]``, convs with kernel ``(1, k)``, strides ``(1, s)``, pads ``(0, p, 0, p)``, a 1x2 max
pool) and grouped / depthwise convolutions (``group`` on IntConv, AdderConv, XnorConv):
each network streams images through the compiled bench on Verilator (and one on Icarus)
and must give the reference's output codes and, per image, the cycle model's count. The
reshape is no hardware; one that would reorder the stream is refused by name.
"""

from __future__ import annotations

import grouped
import numpy as np
import onnx
import pytest
from graph_networks import inputs, one_d_net
from test_rtl_network import require

from adderflow.errors import ModelFormatError
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.hw.network import generate, read_layers
from adderflow.hw.simulate import run_network
from adderflow.sim.executor import output_name, run_reference


def check(model: onnx.ModelProto, x: np.ndarray, directory, simulator: str, **kwargs):
    """Generate, simulate, and demand the reference's codes and the model's cycles."""
    design = generate(model, directory, **kwargs)
    reference = run_reference(model, x)
    result = run_network(design, reference["input_codes"], simulator)
    np.testing.assert_array_equal(result.codes, reference[output_name(model)])
    assert result.latencies == [design.cycles] * len(x)
    return design


# ---- 1-D ----------------------------------------------------------------------------


def test_one_d_network_reads_as_frames_of_height_one():
    model = build_qonnx(one_d_net(8, seed=3))
    layers, frame, _ = read_layers(model)
    assert frame == (2, 1, 12)
    conv, head = layers
    assert (conv.kernel, conv.stride, conv.pad) == ((1, 3), (1, 1), (0, 1, 0, 1))
    assert (conv.height, conv.width) == (1, 12)
    assert head.pool == (1, 2) and head.kernel == (1, 6)  # the 1x2 pool fused, then dense


ONE_D = [
    # (bits, fill, simulator, window)
    (8, None, "verilator", "frame"),
    (2, None, "verilator", "frame"),
    (16, "max", "verilator", "frame"),
    (8, "min", "verilator", "line"),
    (4, None, "icarus", "frame"),
]


@pytest.mark.parametrize("bits, fill, simulator, window", ONE_D)
def test_one_d_network_in_rtl(tmp_path, bits, fill, simulator, window):
    require(simulator)
    net = one_d_net(bits, seed=bits)
    x = inputs(net, 6, seed=bits, fill=fill)
    model = build_qonnx(net)
    if fill is None:
        out = run_reference(model, x)[output_name(model)]
        assert len(np.unique(out, axis=0)) > 1, "degenerate test network"
    check(model, x, tmp_path / "rtl", simulator, window=window)


def _with_shape(model: onnx.ModelProto, dims: list[int]) -> onnx.ModelProto:
    """The model with its reshape's target replaced by ``dims``."""
    broken = onnx.ModelProto()
    broken.CopyFrom(model)
    node = next(n for n in broken.graph.node if n.op_type == "Reshape")
    init = next(t for t in broken.graph.initializer if t.name == node.input[1])
    init.CopyFrom(onnx.numpy_helper.from_array(np.array(dims, np.int64), init.name))
    return broken


def test_a_reshape_that_reorders_the_stream_is_refused_by_name(tmp_path):
    """[2, 12] -> [1, 2, 12] keeps the element order but moves the channels into space:
    the stream's beats (channels fastest) would be reordered."""
    model = _with_shape(build_qonnx(one_d_net(8)), [0, 1, 2, 12])
    with pytest.raises(ModelFormatError, match=r"node 'to2d' \(Reshape\) reshapes \[2, 1, 12\]"):
        generate(model, tmp_path / "rtl")
    assert not (tmp_path / "rtl").exists()


# ---- grouped and depthwise ----------------------------------------------------------


GROUPED = [
    # (bits, stem_group, fill, simulator, window)
    (8, 2, None, "verilator", "frame"),
    (4, 4, None, "verilator", "frame"),  # a depthwise stem too
    (8, 2, "max", "verilator", "frame"),
    (2, 2, "min", "verilator", "frame"),
    (8, 2, None, "verilator", "line"),
    (8, 2, None, "icarus", "frame"),
]


@pytest.mark.parametrize("bits, stem_group, fill, simulator, window", GROUPED)
def test_grouped_network_in_rtl(tmp_path, bits, stem_group, fill, simulator, window):
    """Grouped mul stem, depthwise adder (group 8), grouped 1x1 adder at stride 2, dense."""
    require(simulator)
    model = grouped.as_ir(grouped.grouped_net(bits, seed=bits, extreme=fill, stem_group=stem_group))
    x = grouped.images(bits, 4, n=4, seed=bits, fill=fill)
    design = check(model, x, tmp_path / "rtl", simulator, window=window)
    groups = {layer["name"]: layer.get("groups", 1) for layer in design.layers}
    assert groups == {"stem": stem_group, "dw": 8, "gc": 2, "head": 1}


def test_grouped_binary_network_in_rtl(tmp_path):
    """A grouped and a depthwise XnorConv: padding does not vote, groups stay apart."""
    require("verilator")
    model = grouped.as_ir(grouped.grouped_binary_net(seed=5))
    x = grouped.images(8, 2, n=4, seed=5)
    check(model, x, tmp_path / "rtl", "verilator")


def test_a_dense_matrix_with_zeros_is_not_a_grouped_adder_layer():
    """Why af_mvu keeps groups apart instead of a block-diagonal weight: an adder layer's
    weight 0 is not neutral, -|x - 0| != 0."""
    from adderflow.sim.reference import adder_gemm

    x = np.array([[3, -2, 5, 1]])
    w = np.array([[1, 2, 0, 0], [0, 0, -1, 4]])  # two groups of 2 as a block diagonal
    grouped_sums = [-abs(3 - 1) - abs(-2 - 2), -abs(5 + 1) - abs(1 - 4)]
    assert adder_gemm(x, w)[0].tolist() != grouped_sums


# ---- padded max pool -----------------------------------------------------------------

POOLED = [
    # (bits, pool_pads, fill, simulator)
    (8, (1, 1, 1, 1), None, "verilator"),  # 3x3 stride 2 pad 1: the ResNet stem's pool
    (8, (1, 0, 1, 2), "min", "verilator"),  # all-min codes: zero padding would win
    (4, (0, 0, 0, 0), None, "verilator"),  # kernel 3 != stride 2, no padding
    (16, (1, 1, 1, 1), "max", "verilator"),
    (8, (1, 1, 1, 1), None, "icarus"),
]


@pytest.mark.parametrize("bits, pool_pads, fill, simulator", POOLED)
def test_padded_max_pool_network_in_rtl(tmp_path, bits, pool_pads, fill, simulator):
    """Grouped stem, 3x3 stride-2 max pool with ``pool_pads`` (its own window, padded taps
    at the minimum code, and af_maxpool), then the depthwise and grouped layers."""
    require(simulator)
    net = grouped.grouped_net(bits, seed=bits, extreme=fill, pool_pads=pool_pads)
    model = grouped.as_ir(net)
    x = grouped.images(bits, 4, n=3, seed=bits, fill=fill)
    design = check(model, x, tmp_path / "rtl", simulator)
    pre = design.layers[1]["prepool"]
    assert pre["kernel"] == [3, 3] and pre["strides"] == [2, 2] and pre["pads"] == list(pool_pads)


def test_padded_max_pool_on_binary_codes_in_rtl(tmp_path):
    """±1 codes pooled with padding: the padded tap (code -2) never wins over -1."""
    require("verilator")
    model = grouped.as_ir(grouped.grouped_binary_net(seed=3, pool_pads=(1, 1, 1, 1)))
    check(model, grouped.images(8, 2, n=4, seed=3), tmp_path / "rtl", "verilator")


def test_padded_max_pool_cycles_closed_form_is_the_handshake_model():
    from adderflow.hw.network import choose_folding, handshake_cycles, network_cycles

    model = grouped.as_ir(grouped.grouped_net(8, seed=2, pool_pads=(1, 0, 1, 2)))
    layers, frame, _ = read_layers(model)
    for target in (None, 4000, 20000):
        folding = choose_folding(layers, target)
        assert network_cycles(layers, folding, frame) == handshake_cycles(layers, folding, frame)


def test_a_max_pool_at_the_end_is_refused_by_name(tmp_path):
    """A padded pool with no layer after it has nothing to feed: refused naming it."""
    from adderflow.quant.spec import PoolLayer, QuantizedNetwork

    net = grouped.grouped_net(8, pool_pads=(1, 1, 1, 1))
    short = QuantizedNetwork(net.input_type, net.input_shape, tuple(net.layers[:2]))
    assert isinstance(short.layers[-1], PoolLayer)
    with pytest.raises(Exception, match=r"node 'pool': the model ends with a pool"):
        generate(grouped.as_ir(short), tmp_path / "rtl")
