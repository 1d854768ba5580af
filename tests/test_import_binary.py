"""``adderflow import`` on binary models made elsewhere (issue [J1] point 6): qonnx-native
(``XnorPopcountMatMul``, ``MultiThreshold``, ``BipolarQuant``) and hls4ml/brevitas-style
(a ``Gemm``/``Conv`` whose weight and input are ``BipolarQuant``'d) models are read and
costed as binary layers. The models are built with ``onnx.helper`` in ``binary_imports``
(hls4ml's ``bnn_model_fc_1layer.onnx`` reproduced by structure: see that module)."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from binary_imports import bipolar_cnn, finn_mlp, hls4ml_bnn_fc

from adderflow.export.importer import import_model


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


def test_bipolar_cnn_conv_and_gemm_are_binary(tmp_path):
    report, t, table = _report(tmp_path, bipolar_cnn(channels=(2, 4), size=6))
    conv, fc = report.layers
    assert (conv.hardware, conv.xnors) == ("binary", 4 * 6 * 6 * 2 * 9)
    assert (fc.hardware, fc.xnors) == ("binary", 3 * 36)
    assert (t["binary_layers"], t["mults"]) == (2, 0) and "NOT COUNTED" not in table
