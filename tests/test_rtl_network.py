"""Whole networks through the generated RTL: output codes and cycles, exactly.

Each case builds an IR network (tests/networks.py: stem multiply conv, adder conv, max
pool, flatten, adder dense, multiply head), generates its Verilog with
``adderflow.hw.network``, streams images through the compiled bench on Verilator (and a
few on Icarus), and demands the reference's output codes and, per image, exactly the
cycle model's count. Geometries, bit widths (2 to 16), extreme weights and inputs, and
foldings vary; a corrupted weight memory file must be caught.

Binary networks (DESIGN.md rule 6; ``binary_ir`` below): a multiplication stem ending in a
``BinaryThreshold``, ``XnorConv`` layers with zero padding that does not vote, a max pool
on ±1 codes, and either a binary dense layer (``XnorGemm``) or an ``XnorConv`` ending in a
``Requant`` towards multiplication layers; thresholds sit on attained accumulator values,
so ties (``direction·acc == threshold``, +1) occur.
"""

from __future__ import annotations

import json
import subprocess

import numpy as np
import onnx
import pytest
from binary_networks import binary_images, binary_ir
from networks import calibrated, images, random_network, tie_images, tie_network
from onnx import helper
from tools import missing

from adderflow.errors import AdderflowError, ConfigError, ModelFormatError
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.hw.network import (
    Layer,
    choose_folding,
    default_target,
    generate,
    network_cycles,
    read_layers,
    window_kinds,
)
from adderflow.hw.simulate import run_network, tool_path
from adderflow.sim.executor import output_name, run_reference


def require(simulator: str) -> None:
    """Skip outside CI (naming the install), fail under CI=true, if the tool is missing."""
    try:
        tool_path(simulator)
    except AdderflowError as exc:
        missing(str(exc))


def network(bits: int, x: np.ndarray, **kwargs) -> onnx.ModelProto:
    """A random network whose outputs differ from image to image (so layers are seen)."""
    model = build_qonnx(calibrated(random_network(bits, **kwargs), x))
    out = run_reference(model, x)[output_name(model)]
    if kwargs.get("extreme") is None:
        assert len(np.unique(out, axis=0)) > 1, "degenerate test network: one output for all"
    return model


def simulate_and_check(model, x, directory, simulator, target=None, window="frame"):
    design = generate(model, directory, target, window)
    reference = run_reference(model, x)
    result = run_network(design, reference["input_codes"], simulator)
    np.testing.assert_array_equal(result.codes, reference[output_name(model)])
    assert result.latencies == [design.cycles] * len(x)
    return design, result


CASES = [
    # (bits, (kernel, stride, pad), extreme, target)
    (8, (3, 1, 1), None, None),
    (2, (3, 2, 1), None, None),
    (16, (5, 1, 2), None, 4000),
    (4, (1, 1, 0), "max", None),
    (8, (3, 1, 1), "min", 20000),
]


@pytest.mark.parametrize("bits, geometry, extreme, target", CASES)
def test_random_network_on_verilator(tmp_path, bits, geometry, extreme, target):
    require("verilator")
    k, stride, pad = geometry
    lo, hi = (-1.0, 1.0) if extreme is None else ((1.0, 2.0) if extreme == "max" else (-2, -1))
    x = images(bits, n=5, lo=lo, hi=hi)
    model = network(bits, x, seed=bits + k, extreme=extreme, k=k, stride=stride, pad=pad)
    simulate_and_check(model, x, tmp_path / "rtl", "verilator", target)


def test_mac_twin_network_on_verilator(tmp_path):
    """The CNN twin: every layer a multiply-accumulate, against the same reference."""
    require("verilator")
    x = images(5, n=5)
    model = network(8, x, seed=5, hidden="mul")
    ops = {n.op_type for n in model.graph.node}
    assert {"IntConv", "IntGemm"} <= ops and not ops & {"AdderConv", "AdderGemm"}
    design, _ = simulate_and_check(model, x, tmp_path / "rtl", "verilator", target=2000)
    assert {layer["mode"] for layer in design.layers} == {"mac"}


def test_random_network_on_icarus(tmp_path):
    require("icarus")
    x = images(3, n=2)
    model = network(8, x, seed=3, channels=4)
    simulate_and_check(model, x, tmp_path / "rtl", "icarus", target=3000)


AVG_CASES = [
    # (bits, extreme, simulator): codes that are not ±1, pooled by af_window's mean
    (8, None, "verilator"),
    (2, None, "verilator"),
    (8, "max", "verilator"),
    (8, "min", "verilator"),
    (16, None, "icarus"),
]


@pytest.mark.parametrize("bits, extreme, simulator", AVG_CASES)
def test_average_pool_network(tmp_path, bits, extreme, simulator):
    require(simulator)
    lo, hi = (-1.0, 1.0) if extreme is None else ((1.0, 2.0) if extreme == "max" else (-2, -1))
    x = images(bits, n=3 if simulator == "icarus" else 5, lo=lo, hi=hi)
    model = network(bits, x, seed=bits, extreme=extreme, pool="avg")
    assert "IntAvgPool" in {n.op_type for n in model.graph.node}
    design, _ = simulate_and_check(model, x, tmp_path / "rtl", simulator)
    assert [layer["pool_mode"] for layer in design.layers if layer["pool"] > 1] == ["avg"]


@pytest.mark.parametrize("k, bits", [(2, 8), (4, 4)])
def test_average_pool_ties_round_half_to_even_in_rtl(tmp_path, k, bits):
    """Block sums on the tie k²·m + k²/2 for m of both parities: half-up or truncation
    would differ from the reference on some of them."""
    require("verilator")
    model = build_qonnx(tie_network(k, bits))
    simulate_and_check(model, tie_images(k, bits), tmp_path / "rtl", "verilator")


def test_average_pool_refusals_name_the_node():
    model = build_qonnx(random_network(8, pool="avg"))
    node = next(n for n in model.graph.node if n.op_type == "IntAvgPool")
    for attribute in node.attribute:
        if attribute.name in ("kernel_shape", "strides"):
            attribute.ints[:] = [3, 3]
    with pytest.raises(ConfigError, match=f"node '{node.name}' \\(IntAvgPool\\).*area 9"):
        read_layers(model)


def test_folding_target_trades_lanes_for_cycles():
    layers, frame, _ = read_layers(build_qonnx(random_network(8, seed=1)))
    fast, slow = choose_folding(layers), choose_folding(layers, 5000)
    assert slow.lanes < fast.lanes
    for folding, goal in ((slow, 5000), (fast, layers[0].fold_cycles(layers[0].out, 1))):
        assert all(folding.simd[i + 1] == folding.pe[i] for i in range(len(layers) - 1))
        cycles = [
            ly.fold_cycles(p, s) for ly, p, s in zip(layers, folding.pe, folding.simd, strict=True)
        ]
        assert max(cycles) <= goal


def test_corrupt_weight_file_is_caught(tmp_path):
    require("verilator")
    x = images(2, n=3)
    model = network(8, x, seed=2)
    design, _ = simulate_and_check(model, x, tmp_path / "rtl", "verilator")
    weights = design.directory / "adder_weights.hex"
    lines = weights.read_text().splitlines()
    word = lines[1]
    lines[1] = format(int(word, 16) ^ (1 << 6), f"0{len(word)}x")  # one bit of one weight
    weights.write_text("\n".join(lines) + "\n")
    reference = run_reference(model, x)
    result = run_network(design, reference["input_codes"], "verilator")
    assert (result.codes != reference[output_name(model)]).any()


def _with_node(model: onnx.ModelProto, index: int, node: onnx.NodeProto) -> onnx.ModelProto:
    broken = onnx.ModelProto()
    broken.CopyFrom(model)
    broken.graph.node[index].CopyFrom(node)
    return broken


def test_generation_refuses_what_it_cannot_build(tmp_path):
    model = build_qonnx(random_network(8, seed=4))
    nodes = list(model.graph.node)
    conv = next(i for i, n in enumerate(nodes) if n.op_type == "AdderConv")
    relu = helper.make_node("Relu", [nodes[conv].input[0]], [nodes[conv].output[0]], name="r")
    with pytest.raises(ModelFormatError, match="node 'r': op 'Relu' has no RTL unit \\(known: "):
        generate(_with_node(model, conv, relu), tmp_path / "a")
    with pytest.raises(ConfigError, match="no folding reaches 3 cycles"):
        generate(model, tmp_path / "c", target=3)
    assert not (tmp_path / "a").exists() and not (tmp_path / "c").exists()


def test_a_failed_generation_keeps_the_previous_design(tmp_path):
    model = build_qonnx(random_network(8, seed=4))
    first = generate(model, tmp_path / "rtl")
    top = (first.directory / "af_network.v").read_text()
    with pytest.raises(ConfigError):
        generate(model, tmp_path / "rtl", target=3)
    assert (tmp_path / "rtl" / "af_network.v").read_text() == top
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rtl"]


@pytest.mark.parametrize("kind", ["adder", "binary", "line"])
def test_generated_top_is_lint_clean_verilog_2005(tmp_path, kind):
    """The generated top with its kernels: Verilator -Wall silent, Icarus -g2005 compiles."""
    require("verilator")
    require("icarus")
    if kind == "binary":
        x = binary_images(6, 2)
        design = generate(binary_ir(x, 6, tail="requant"), tmp_path / "rtl")
    else:
        x = images(6, n=2)
        window = "line" if kind == "line" else "frame"
        design = generate(network(8, x, seed=6), tmp_path / "rtl", window=window)
        assert ("af_linewin" in (design.directory / "af_network.v").read_text()) == (kind == "line")
    sources = [str(p) for p in design.sources]
    lint = subprocess.run(
        [
            str(tool_path("verilator")),
            "--lint-only",
            "-Wall",
            "--top-module",
            "af_network",
            *sources,
        ],
        capture_output=True,
        text=True,
        cwd=design.directory,
    )
    messages = [ln for ln in (lint.stdout + lint.stderr).splitlines() if ln.startswith("%")]
    assert lint.returncode == 0 and not messages, "\n".join(messages)
    icarus = subprocess.run(
        [
            str(tool_path("icarus")),
            "-g2005",
            "-s",
            "af_network",
            "-o",
            str(tmp_path / "a.vvp"),
            *sources,
        ],
        capture_output=True,
        text=True,
        cwd=design.directory,
    )
    assert icarus.returncode == 0, icarus.stdout + icarus.stderr


# ---- binary networks --------------------------------------------------------------------


BINARY_CASES = [
    # (seed, (kernel, stride, pad), channels, extreme, tail, target)
    (0, (3, 1, 1), (4, 6, 3), None, "dense", None),
    (1, (3, 2, 1), (5, 4, 2), None, "requant", None),
    (2, (5, 1, 2), (2, 8, 4), None, "dense", 3000),
    (3, (3, 1, 1), (4, 6, 3), "max", "requant", None),
    (4, (3, 1, 1), (3, 4, 2), "min", "dense", None),
]


def _check_binary(model: onnx.ModelProto, x: np.ndarray, extreme: str | None) -> None:
    ref = run_reference(model, x)
    ops = [n.op_type for n in model.graph.node]
    assert ops.count("XnorConv") == 2 and "BinaryThreshold" in ops
    for node in model.graph.node:  # ties occur: +1 exactly on the boundary
        if node.op_type == "BinaryThreshold" and extreme is None:
            assert len(np.unique(ref[node.output[0]])) == 2, node.name
    if extreme is None:
        assert len(np.unique(ref[output_name(model)], axis=0)) > 1, "degenerate network"


@pytest.mark.parametrize("seed, geometry, channels, extreme, tail, target", BINARY_CASES)
def test_binary_network_on_verilator(tmp_path, seed, geometry, channels, extreme, tail, target):
    require("verilator")
    k, stride, pad = geometry
    x = binary_images(seed, 5, extreme)
    model = binary_ir(x, seed, k, stride, pad, channels, extreme, tail)
    _check_binary(model, x, extreme)
    design, _ = simulate_and_check(model, x, tmp_path / "rtl", "verilator", target)
    modes = [(layer["mode"], layer["post"]) for layer in design.layers]
    assert modes[:2] == [("mac", "threshold"), ("xnor", "threshold")]
    assert modes[2] == (("xnor", "threshold") if tail == "dense" else ("xnor", "requant"))
    assert all(layer["bits"] == 2 for layer in design.layers if layer["mode"] == "xnor")


def test_binary_thresholds_tie_in_the_test_data():
    """The data reaches the boundary: some direction·acc equals its threshold (→ +1)."""
    x = binary_images(0, 5)
    model = binary_ir(x, 0)
    ref = run_reference(model, x)
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}
    ties = 0
    for node in model.graph.node:
        if node.op_type == "BinaryThreshold":
            t, d = inits[node.input[1]], inits[node.input[2]]
            shape = (1, -1) + (1,) * (ref[node.input[0]].ndim - 2)
            on = d.reshape(shape) * ref[node.input[0]] == t.reshape(shape)
            assert (ref[node.output[0]][on] == 1).all()
            ties += int(on.sum())
    assert ties > 0


def test_binary_network_on_icarus(tmp_path):
    require("icarus")
    x = binary_images(7, 2)
    model = binary_ir(x, 7, stride=2, tail="requant")
    simulate_and_check(model, x, tmp_path / "rtl", "icarus")


def test_binary_corrupt_weight_bit_is_caught(tmp_path):
    """One flipped weight bit of the binary dense layer changes its accumulator by ±2 on
    every image, and its requantizer's gain (≥ 1) carries that to the output."""
    require("verilator")
    x = binary_images(11, 4)
    model = binary_ir(x, 11)
    design, _ = simulate_and_check(model, x, tmp_path / "rtl", "verilator")
    weights = design.directory / "xg_weights.hex"
    lines = weights.read_text().splitlines()
    word = lines[1]
    lines[1] = format(int(word, 16) ^ 1, f"0{len(word)}x")  # one weight bit
    weights.write_text("\n".join(lines) + "\n")
    reference = run_reference(model, x)
    result = run_network(design, reference["input_codes"], "verilator")
    assert (result.codes != reference[output_name(model)]).any()


def test_binary_layer_refusals_name_the_node(tmp_path):
    x = binary_images(0, 2)
    model = binary_ir(x, 0)
    nodes = list(model.graph.node)
    # A binary layer fed by something other than a threshold's ±1 codes.
    i = next(i for i, n in enumerate(nodes) if n.op_type == "BinaryThreshold")
    for out_bits in (8, 2):  # 2 bits: as wide as ±1 codes, but -2 and 0 would not vote
        requant = helper.make_node(
            "Requant", list(nodes[i].input), list(nodes[i].output), name="bad_requant",
            domain=nodes[i].domain, shift=0, out_bits=out_bits, relu=0,
        )  # fmt: skip
        with pytest.raises(ConfigError, match="node 'x1' \\(XnorConv\\): a binary layer must"):
            generate(_with_node(model, i, requant), tmp_path / "a")
    # A packed weight with a non-zero tail bit (x1: K = 4*3*3 = 36 terms, 4 tail bits).
    broken = onnx.ModelProto()
    broken.CopyFrom(model)
    x1 = next(n for n in broken.graph.node if n.op_type == "XnorConv")
    init = next(t for t in broken.graph.initializer if t.name == x1.input[1])
    packed = onnx.numpy_helper.to_array(init).copy()
    packed[0, -1] |= 0x80
    init.CopyFrom(onnx.numpy_helper.from_array(packed, init.name))
    with pytest.raises(AdderflowError, match="node 'x1' \\(XnorConv\\).*tail bits"):
        generate(broken, tmp_path / "b")


# ---- line-buffered windows (af_linewin) ------------------------------------------------


def _frame_model(model: onnx.ModelProto, target: int | None) -> int:
    """The same network's closed-form cycles with af_window everywhere."""
    layers, frame, _ = read_layers(model)
    return network_cycles(layers, choose_folding(layers, target), frame)


@pytest.mark.parametrize("bits, geometry, extreme, target", CASES)
def test_line_window_network_on_verilator(tmp_path, bits, geometry, extreme, target):
    """window="line": the layers without a pool read af_linewin rings; codes equal the
    reference and every image's cycles the handshake model's (producer rows, overlap and
    a slow MVU's back-pressure: target 20000 folds the adder conv to PE = 1)."""
    require("verilator")
    k, stride, pad = geometry
    lo, hi = (-1.0, 1.0) if extreme is None else ((1.0, 2.0) if extreme == "max" else (-2, -1))
    x = images(bits, n=4, lo=lo, hi=hi)
    model = network(bits, x, seed=bits + k, extreme=extreme, k=k, stride=stride, pad=pad)
    design, _ = simulate_and_check(model, x, tmp_path / "rtl", "verilator", target, "line")
    assert [layer["window"] for layer in design.layers] == ["line", "line", "frame", "line"]
    assert design.window == "line"
    assert design.cycles < _frame_model(model, target)


@pytest.mark.parametrize("seed, geometry, channels, tail, target", [
    (1, (3, 2, 1), (5, 4, 2), "requant", None),
    (2, (5, 1, 2), (2, 8, 4), "dense", 3000),
])  # fmt: skip
def test_line_window_binary_network_on_verilator(tmp_path, seed, geometry, channels, tail, target):
    require("verilator")
    k, stride, pad = geometry
    x = binary_images(seed, 4)
    model = binary_ir(x, seed, k, stride, pad, channels, None, tail)
    design, _ = simulate_and_check(model, x, tmp_path / "rtl", "verilator", target, "line")
    windows = [layer["window"] for layer in design.layers]
    assert windows[:2] == ["line", "line"] and "frame" in windows  # the pooled layer
    assert design.cycles < _frame_model(model, target)


def test_line_window_network_on_icarus(tmp_path):
    require("icarus")
    x = images(3, n=2)
    model = network(8, x, seed=3, channels=4)
    design, _ = simulate_and_check(model, x, tmp_path / "rtl", "icarus", 3000, "line")
    assert "line" in {layer["window"] for layer in design.layers}


def test_line_windows_store_fewer_codes_than_frames(tmp_path):
    """design.json: the rings hold fewer codes than the frames for the same network, per
    layer at most the frame; the pooled layer keeps its frame; the frame design never
    instantiates af_linewin nor lists its source."""
    model = build_qonnx(random_network(8, seed=1, channels=4))
    frame = generate(model, tmp_path / "frame")
    line = generate(model, tmp_path / "line", window="line")
    saved = _design_json(line.directory)
    assert saved["window"] == "line" and _design_json(frame.directory)["window"] == "frame"
    assert line.buffer_codes is not None and frame.buffer_codes is not None
    assert line.buffer_codes < frame.buffer_codes
    for lf, ll in zip(frame.layers, line.layers, strict=True):
        assert ll["buffer_codes"] <= lf["buffer_codes"]
        assert (ll["window"] == "frame") == (ll["pool"] > 1)
        if ll["window"] == "frame":
            assert ll["buffer_codes"] == lf["buffer_codes"]
    stem = line.layers[0]  # 8x8x1 input, 3x3 pad 1: a ring of 4 rows of 8
    assert (stem["window"], stem["buffer_codes"], frame.layers[0]["buffer_codes"]) == (
        "line",
        4 * 8 * 1,
        8 * 8 * 1,
    )
    assert "af_linewin" not in (frame.directory / "af_network.v").read_text()
    assert all(p.name != "af_linewin.v" for p in frame.sources)
    top = (line.directory / "af_network.v").read_text()
    assert top.count("af_linewin #(") == sum(ly["window"] == "line" for ly in line.layers)
    assert any(p.name == "af_linewin.v" for p in line.sources)
    assert line.cycles < frame.cycles


def test_area_estimate_refuses_line_windows(tmp_path):
    """af_linewin is not in the area fit: the estimate names the line layers, not a guess."""
    from adderflow.hw.area_estimate import design_estimate

    model = build_qonnx(random_network(8, seed=1, channels=4))
    design = generate(model, tmp_path / "rtl", window="line")
    with pytest.raises(ConfigError, match="line-buffered windows \\(stem, adder, head\\)"):
        design_estimate(design)
    design_estimate(generate(model, tmp_path / "frame"))  # the frame design is estimated


def _design_json(directory) -> dict:
    return json.loads((directory / "design.json").read_text())


def _layer(height: int, kernel: int, stride: int, pad: int, pool: int = 1) -> Layer:
    return Layer(
        name="l", mode="adder", channels=2, height=height, width=height, pool=pool,
        kernel=(kernel, kernel), stride=stride, pad=pad, out=2, in_bits=8, weight_bits=8,
        acc_bits=16, weight=np.zeros((2, kernel * kernel * 2), np.int64),
    )  # fmt: skip


def test_line_window_eligibility():
    """af_linewin where it can stand in for af_window and keep the per-image model:
    no pool, padding below the kernel, no stride leftovers (rows below the last window)."""
    assert _layer(8, 3, 1, 1).line_window() is not None
    assert _layer(8, 3, 2, 1).line_window() is not None  # rows -1..7: none left over
    assert _layer(8, 3, 2, 0).line_window() is None  # row 7 is a stride leftover
    assert _layer(8, 1, 2, 0).line_window() is None  # odd rows left over
    assert _layer(8, 3, 1, 1, pool=2).line_window() is None
    assert _layer(8, 3, 1, 3).line_window() is None  # a window row wholly in the padding
    layers, _, _ = read_layers(build_qonnx(random_network(8, seed=1)))
    folding = choose_folding(layers)
    assert window_kinds(layers, folding) == ["frame"] * 4
    assert window_kinds(layers, folding, "line") == ["line", "line", "frame", "line"]
    with pytest.raises(ConfigError, match="unknown window kind 'ring'"):
        window_kinds(layers, folding, "ring")


# --- issue 18: a 16-bit weight of -32768, and a conv as the last layer -------------------


def test_16_bit_adder_layer_with_weight_minus_32768(tmp_path):
    """The lane was sized from |w| = 32768 (17 bits) and refused; -32768 is a 16-bit code."""
    require("icarus")
    from adderflow.fixed import FixedType, RequantParams, adder_acc_bits
    from adderflow.quant.spec import ComputeLayer, FlattenLayer, QuantizedNetwork

    t = FixedType(16, 0)
    weight = np.array([[-32768, 32767, -32768, 5]], np.int64)
    dense = ComputeLayer("dense", "adder", weight, t, t, adder_acc_bits(16, 4),
                         RequantParams(np.ones(1, np.int64), np.zeros(1, np.int64), 0),
                         FixedType(20, 0), False)  # fmt: skip
    model = build_qonnx(QuantizedNetwork(t, (1, 2, 2), (FlattenLayer("flat"), dense)))
    layers, _, _ = read_layers(model)
    assert layers[0].bits == 16
    x = np.array([[[[32767, -32768], [32767, -32768]]], [[[-32768] * 2] * 2]], np.float32)
    simulate_and_check(model, x, tmp_path / "rtl", "icarus")


def test_conv_as_last_layer_gives_the_whole_frame(tmp_path):
    """It once returned (2, 3) codes instead of (2, 3, 4, 4), silently; then it was refused;
    a network ending on a frame is now built as a graph whose output stream carries it."""
    from adderflow.fixed import FixedType, RequantParams
    from adderflow.quant.spec import ComputeLayer, QuantizedNetwork

    require("verilator")
    t = FixedType(4, 0)
    weights = np.random.default_rng(0).integers(-8, 8, (3, 1, 3, 3))
    conv = ComputeLayer("last_conv", "adder", weights, t, t, 10,
                        RequantParams(np.ones(3, np.int64), np.zeros(3, np.int64), 2),
                        FixedType(8, 0), False, (1, 1), (1, 1, 1, 1))  # fmt: skip
    model = build_qonnx(QuantizedNetwork(t, (1, 4, 4), (conv,)))
    x = np.random.default_rng(1).integers(-8, 8, (2, 1, 4, 4)).astype(np.float64)
    _, result = simulate_and_check(model, x, tmp_path / "rtl", "verilator")
    assert result.codes.shape == (2, 3, 4, 4)


def test_trailing_pool_is_refused_naming_it(tmp_path):
    from adderflow.fixed import FixedType, RequantParams
    from adderflow.quant.spec import ComputeLayer, PoolLayer, QuantizedNetwork

    t = FixedType(4, 0)
    conv = ComputeLayer("c", "adder", np.ones((2, 1, 3, 3), np.int64), t, t, 10,
                        RequantParams(np.ones(2, np.int64), np.zeros(2, np.int64), 0),
                        FixedType(8, 0), False, (1, 1), (1, 1, 1, 1))  # fmt: skip
    model = build_qonnx(QuantizedNetwork(t, (1, 4, 4), (conv, PoolLayer("tail", (2, 2), (2, 2)))))
    with pytest.raises(ConfigError, match=r"node 'tail': the model ends with a pool"):
        generate(model, tmp_path / "rtl")


def test_default_target_is_reachable_after_a_cheap_first_layer(tmp_path):
    """An imported binary CNN starts with a 1×1 sign stem (K = 2): its rate alone set a
    default target the 3×3 conv behind it could never reach; the slowest layer's fully
    parallel rate now bounds the default, and a refusal names the layer that needs more."""
    from binary_imports import bipolar_cnn

    from adderflow.export.import_binary import binary_network

    path = tmp_path / "bnn.onnx"
    onnx.save(bipolar_cnn((2, 4), size=6, batch=1), path)
    layers, _, _ = read_layers(build_qonnx(binary_network(path)))
    first = layers[0].fold_cycles(layers[0].out, 1)
    folding = choose_folding(layers)
    cycles = [
        ly.fold_cycles(p, s) for ly, p, s in zip(layers, folding.pe, folding.simd, strict=True)
    ]
    assert max(cycles) <= default_target(layers) and default_target(layers) > first
    with pytest.raises(ConfigError, match=f"layer '{layers[1].name}' alone needs at least"):
        choose_folding(layers, first)
