"""``adderflow import`` on binary models made elsewhere (issue [J1] point 6): qonnx-native
(``XnorPopcountMatMul``, ``MultiThreshold``, ``BipolarQuant``) and hls4ml/brevitas-style
(a ``Gemm``/``Conv`` whose weight and input are ``BipolarQuant``'d) models are read and
costed as binary layers. The models are built with ``onnx.helper`` in ``binary_imports``
(hls4ml's ``bnn_model_fc_1layer.onnx`` reproduced by structure: see that module)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from binary_imports import (
    bipolar_cnn,
    bipolar_inputs,
    finn_mlp,
    grid_inputs,
    hls4ml_bnn_fc,
    im2col_model,
)
from onnx import numpy_helper
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.core.onnx_exec import execute_onnx
from qonnx.util.cleanup import cleanup_model

from adderflow.cli import main
from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.export.import_binary import binary_network, is_binary
from adderflow.export.importer import import_model, load_foreign
from adderflow.export.lower_standard import lower_to_standard_onnx, run_onnxruntime
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.fixed import BIPOLAR, RequantParams, Threshold
from adderflow.sim.compare import compare
from adderflow.sim.executor import output_name, run_qonnx, run_reference


def save(model: onnx.ModelProto, path: Path) -> Path:
    onnx.save(model, path)
    return path


def _report(tmp_path: Path, model: onnx.ModelProto):
    report = import_model(save(model, tmp_path / "model.onnx"))
    return report, report.totals(), report.format_table()


def test_hls4ml_bnn_gemm_is_one_binary_layer_with_xnors_and_no_multiplies(tmp_path):
    """The bipolar Gemm of hls4ml's BNN example: XNOR + popcount (K·O per image), no
    multiplication, every node counted (the three BipolarQuants included)."""
    report, t, table = _report(tmp_path, hls4ml_bnn_fc(k=3, o=4))
    (layer,) = report.layers
    assert (layer.hardware, layer.mults, layer.xnors) == ("binary", 0, 12)
    assert (t["binary_layers"], t["mult_layers"], t["mults"], t["xnors"]) == (1, 0, 0, 12)
    assert "in hardware: 1 binary" in table and "NOT COUNTED" not in table
    assert "first layer" not in layer.decision()  # a binary layer is not kept as a multiply
    counted = {item.op_type: item for item in report.cost.layers}
    assert counted["BipolarQuant"].count("cmp") > 0


@pytest.mark.parametrize("xnor", [True, False])
def test_finn_mlp_layers_are_binary_and_thresholds_counted(tmp_path, xnor):
    """qonnx-native: XnorPopcountMatMul on {0, 1} bits (or the bipolar MatMul form before
    FINN's conversion) are binary layers; MultiThreshold is counted (1 cmp per threshold)."""
    sizes = (12, 10, 8, 5)
    report, t, table = _report(tmp_path, finn_mlp(sizes, xnor=xnor))
    terms = sum(k * o for k, o in zip(sizes[:-1], sizes[1:], strict=True))
    assert [layer.hardware for layer in report.layers] == ["binary"] * 3
    assert (t["binary_layers"], t["mults"], t["xnors"]) == (3, 0, terms)
    assert "in hardware: 3 binary" in table and "NOT COUNTED" not in table
    thresholds = [item for item in report.cost.layers if item.op_type == "MultiThreshold"]
    assert sum(item.count("cmp") for item in thresholds) == sum(sizes[:-1])


def test_qonnx_lowered_conv_is_counted(tmp_path):
    """qonnx's Im2Col lowering: Im2Col moves data, the XnorPopcountMatMul is binary."""
    report, t, table = _report(tmp_path, im2col_model(pad=1))
    assert (t["binary_layers"], t["xnors"]) == (1, 4 * 4 * 18 * 3)
    assert "NOT COUNTED" not in table


def test_bipolar_cnn_conv_and_gemm_are_binary(tmp_path):
    report, t, table = _report(tmp_path, bipolar_cnn(channels=(2, 4), size=6))
    conv, fc = report.layers
    assert (conv.hardware, conv.xnors) == ("binary", 4 * 6 * 6 * 2 * 9)
    assert (fc.hardware, fc.xnors) == ("binary", 3 * 36)
    assert (t["binary_layers"], t["mults"]) == (2, 0) and "NOT COUNTED" not in table


# --------------------------------------------------------------------------- conversion


def _theirs(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    """The model's own output by qonnx's execution (after qonnx's cleanup, as hls4ml's
    tests run it)."""
    wrapper = cleanup_model(ModelWrapper(model))
    out = execute_onnx(wrapper, {wrapper.graph.input[0].name: x})
    return out[wrapper.graph.output[0].name]


def _converts_exactly(tmp_path: Path, model: onnx.ModelProto, x: np.ndarray):
    """Convert; the model's qonnx output equals our reference codes (times ``2**-frac``),
    and qonnx and onnxruntime on our IR equal the reference (what ``verify`` checks)."""
    net = binary_network(save(model, tmp_path / "model.onnx"))
    ir = build_qonnx(net, batch=len(x))
    ref = run_reference(ir, x)
    ours = ref[output_name(ir)]
    theirs = _theirs(model, x) * 2.0**net.output_type.frac
    assert np.array_equal(theirs, ours), (theirs[:4], ours[:4])
    for name, got in (
        ("qonnx", run_qonnx(ir, x)),
        ("onnxruntime", run_onnxruntime(lower_to_standard_onnx(ir, True), x)),
    ):
        assert compare(ir, ref, got).mismatches == 0, name
    return net


@pytest.mark.parametrize("scales", [(1.0, 1.0), (0.5, 0.5), (2.0, 4.0)])
def test_hls4ml_bnn_converts_to_a_sign_stem_and_an_xnor_layer(tmp_path, scales):
    """hls4ml's BNN example (and its tests' non-unit and power-of-two scale variants):
    the bipolar Gemm becomes an XnorGemm with ±1 weights, its bias and output BipolarQuant
    an integer threshold; every ±1 input of K = 3, and random ones of K = 20, agree."""
    for k, x in (
        (3, np.array(list(itertools.product([-1.0, 1.0], repeat=3)), np.float32)),
        (20, bipolar_inputs((64, 20), seed=1)),
    ):
        model = hls4ml_bnn_fc(k=k, o=4, batch=len(x), in_scale=scales[0], w_scale=scales[1])
        net = _converts_exactly(tmp_path, model, x)
        stem, gemm = net.layers
        assert (stem.kind, gemm.kind, gemm.out_type) == ("mul", "xnor", BIPOLAR)
        assert set(np.unique(gemm.weight)) <= {-1, 1} and gemm.weight.shape == (4, k)


@pytest.mark.parametrize("xnor", [True, False])
@pytest.mark.parametrize(
    ("sizes", "seed", "gains"),
    [((12, 10, 8, 5), 0, False), ((7, 33, 3), 1, False), ((9, 16, 16, 4), 2, True)],
)
def test_finn_mlp_converts_with_popcount_thresholds(tmp_path, xnor, sizes, seed, gains):
    """qonnx-native: thresholds on the popcount (some halfway between integers) become
    integer thresholds on 2·popcount − K (direction −1 behind a negative gain); the
    Mul/Add-corrected last layer is an exact requantization. Inputs on the input grid, ±1,
    all +1 and all −1."""
    model = finn_mlp(sizes, batch=32, seed=seed, xnor=xnor, gains=gains)
    for x in (
        grid_inputs((32, sizes[0]), seed),
        bipolar_inputs((32, sizes[0]), seed),
        np.ones((32, sizes[0]), np.float32),
        -np.ones((32, sizes[0]), np.float32),
    ):
        net = _converts_exactly(tmp_path, model, x)
    assert [layer.kind for layer in net.layers] == ["mul"] + ["xnor"] * (len(sizes) - 1)
    assert all(isinstance(layer.requant, Threshold) for layer in net.layers[:-1])
    assert isinstance(net.layers[-1].requant, RequantParams)
    if gains:  # the input's negative scaling flips every stem threshold, hidden gains some
        assert np.all(net.layers[0].requant.direction == -1)
        assert any(np.any(layer.requant.direction == -1) for layer in net.layers[1:-1])


@pytest.mark.parametrize("xnor", [True, False])
def test_a_first_layer_on_the_annotated_graph_input_converts(tmp_path, xnor):
    """FINN leaves a first XnorPopcountMatMul on a BINARY graph input ({0, 1}); a bipolar
    MatMul on a BIPOLAR one (±1): the stem thresholds at 1/2 or 0."""
    model = finn_mlp((10, 8, 4), batch=32, seed=3, xnor=xnor, input_threshold=False)
    x = bipolar_inputs((32, 10), seed=3)
    net = _converts_exactly(tmp_path, model, (x + 1) / 2 if xnor else x)
    assert [layer.kind for layer in net.layers] == ["mul", "xnor", "xnor"]


@pytest.mark.parametrize(("stride", "pad"), [(1, 1), (2, 2), (1, 0)])
def test_bipolar_cnn_converts_with_padding_that_does_not_vote(tmp_path, stride, pad):
    """ONNX pads a ±1 Conv input with 0, which adds nothing: our XnorConv's padding."""
    size = 8 if stride == 2 else 6
    model = bipolar_cnn((2, 4), size=size, batch=16, seed=stride, stride=stride, pad=pad)
    net = _converts_exactly(tmp_path, model, bipolar_inputs((16, 2, size, size), seed=pad))
    conv = net.layers[1]
    assert (conv.kind, conv.pads, conv.strides) == ("xnor", (pad,) * 4, (stride, stride))


def _refused(tmp_path: Path, model: onnx.ModelProto, error, *needles: str) -> None:
    with pytest.raises(error) as info:
        binary_network(save(model, tmp_path / "model.onnx"))
    for needle in needles:
        assert needle in str(info.value)


def test_multi_level_threshold_is_refused_by_name(tmp_path):
    model = finn_mlp((12, 10, 8, 5), levels=3)
    _refused(tmp_path, model, QuantizationError, "node 'th1' (MultiThreshold)", "multi-level")


def test_infinite_thresholds_are_never_and_always_reached(tmp_path):
    """A threshold of +inf never fires (−1 / 0 bit), −inf always does."""
    model = finn_mlp((12, 10, 8, 5), batch=32, seed=4)
    t = next(i for i in model.graph.initializer if i.name == "th1_t")
    value = numpy_helper.to_array(t).copy()
    value[:3, 0], value[3:5, 0] = np.inf, -np.inf
    t.CopyFrom(numpy_helper.from_array(value, "th1_t"))
    net = _converts_exactly(tmp_path, model, grid_inputs((32, 12), seed=4))
    assert isinstance(net.layers[1].requant, Threshold)
    nan = finn_mlp((12, 10, 8, 5))
    t = next(i for i in nan.graph.initializer if i.name == "th1_t")
    value = numpy_helper.to_array(t).copy()
    value[0, 0] = np.nan
    t.CopyFrom(numpy_helper.from_array(value, "th1_t"))
    _refused(tmp_path, nan, QuantizationError, "node 'th1' (MultiThreshold)", "NaN")


def test_im2col_padding_that_votes_is_refused_by_name(tmp_path):
    _refused(tmp_path, im2col_model(pad=1), QuantizationError, "node 'im2col' (Im2Col)", "vote")
    _refused(tmp_path, im2col_model(pad=0), ModelFormatError, "'im2col'", "channels-last")


def test_outputs_without_exact_codes_are_refused(tmp_path):
    _refused(tmp_path, hls4ml_bnn_fc(out_scale=0.5), QuantizationError, "scale 1")
    _refused(
        tmp_path, hls4ml_bnn_fc(out_quant=False, alpha=1 / 3), QuantizationError, "power of two"
    )
    exact = _converts_exactly(
        tmp_path,
        hls4ml_bnn_fc(out_quant=False, alpha=0.25, batch=8),
        bipolar_inputs((8, 3), seed=2),
    )
    assert exact.output_type.frac == 2


def test_a_float_layer_is_not_a_binary_layer(tmp_path):
    model = hls4ml_bnn_fc()
    quant = next(node for node in model.graph.node if node.name == "weight_quant")
    quant.op_type, quant.domain = "Identity", ""
    del quant.input[1:]
    _refused(tmp_path, model, QuantizationError, "node 'linear_gemm' (Gemm)", "binary weight")


def test_is_binary_tells_binary_models_from_fixed_point_ones(tmp_path):
    for model in (hls4ml_bnn_fc(), finn_mlp(), finn_mlp(xnor=False), bipolar_cnn()):
        assert is_binary(load_foreign(save(model, tmp_path / "b.onnx")))
    fixed = hls4ml_bnn_fc()  # a BipolarQuant'd weight alone does not make a binary model
    fixed.graph.node.remove(next(n for n in fixed.graph.node if n.name == "in_quant"))
    fixed.graph.node.remove(next(n for n in fixed.graph.node if n.name == "out_quant"))
    next(n for n in fixed.graph.node if n.name == "linear_gemm").input[0] = "x"
    next(n for n in fixed.graph.node if n.name == "linear_gemm").output[0] = "y"
    assert not is_binary(load_foreign(save(fixed, tmp_path / "f.onnx")))


@pytest.mark.parametrize("which", ["hls4ml", "cnn"])
def test_to_run_and_verify_find_0_mismatches(tmp_path, capsys, which):
    """``adderflow import MODEL --to-run DIR`` then ``adderflow verify DIR``: reference,
    quantized PyTorch, qonnx and onnxruntime agree on every input; the run's IR has the
    model's binary layers as XnorGemm/XnorConv. hls4ml's example at its own shape [1, 3]."""
    model = hls4ml_bnn_fc(k=3, o=4, batch=1) if which == "hls4ml" else bipolar_cnn(batch=1)
    path, run = save(model, tmp_path / "model.onnx"), tmp_path / "run"
    assert main(["import", str(path)]) == 0
    assert "NOT COUNTED" not in capsys.readouterr().out
    assert main(["import", str(path), "--to-run", str(run), "--samples", "64"]) == 0
    assert main(["verify", str(run)]) == 0, capsys.readouterr().out
    equivalence = json.loads((run / "metrics.json").read_text())["equivalence"]
    assert {"qonnx_exec", "onnxruntime"} <= set(equivalence)
    assert all(entry["mismatches"] == 0 for entry in equivalence.values()), equivalence
    ops = [node.op_type for node in onnx.load(run / "model.qonnx.onnx").graph.node]
    assert ("XnorGemm" in ops) and (which == "hls4ml" or "XnorConv" in ops)
