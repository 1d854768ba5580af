"""The dataflow roofline: per-layer rates, the bottleneck, and the RTL cycle model as input."""

from __future__ import annotations

import pytest
from test_ir import random_network

from adderflow.errors import ConfigError
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.hw.network import LAYER_LATENCY, generate
from adderflow.hw.rtlgen import MVU_LATENCY, mvu_cycles
from adderflow.rtl_flow import design_summary
from adderflow.sim.roofline import from_design, plot, roofline

LAYERS = [
    {"name": "conv1", "cycles": 1000, "ops": 4000, "lanes": 4},
    {"name": "conv2", "cycles": 2500, "ops": 5000, "lanes": 2},
    {"name": "fc", "cycles": 100, "ops": 100},
]


def test_bottleneck_and_rates_by_hand():
    view = roofline(LAYERS)
    assert view.bottleneck.name == "conv2" and view.interval == 2500
    assert view.ops == 9100 and view.ops_per_cycle == pytest.approx(9100 / 2500)
    rows = {row["name"]: row for row in view.rows()}
    assert rows["conv1"]["ops_per_cycle"] == 4.0 and rows["conv1"]["busy"] == 0.4
    assert rows["conv1"]["achieved_ops_per_cycle"] == pytest.approx(4000 / 2500)
    assert rows["conv1"]["utilization"] == pytest.approx(0.4)
    assert rows["conv2"]["utilization"] == 1.0 and rows["conv2"]["bottleneck"]
    assert rows["fc"]["lanes"] is None and rows["fc"]["utilization"] is None
    assert view.images_per_second(100.0) == pytest.approx(100e6 / 2500)
    d = view.to_dict()
    assert d["bottleneck"] == "conv2" and d["interval_cycles"] == 2500
    text = view.format_table()
    assert "conv2" in text.splitlines()[2] and "◀ bottleneck" in text.splitlines()[2]
    assert "bottleneck: conv2, 2,500 cycles per image" in text


def test_ties_are_all_bottlenecks():
    view = roofline([dict(LAYERS[0], cycles=2500), LAYERS[1]])
    assert view.bottleneck.name == "conv1"  # the first of equals
    assert [layer.name for layer in view.bottlenecks] == ["conv1", "conv2"]
    assert all(row["bottleneck"] for row in view.rows())


@pytest.mark.parametrize(
    "layers, message",
    [
        ([], "at least one layer"),
        ([{"name": "a", "cycles": 0, "ops": 1}], "layer 0 ('a'): 'cycles' must be"),
        ([{"name": "a", "cycles": 5, "ops": -1}], "'ops' must be an integer >= 0"),
        ([{"name": "a", "cycles": 2.5, "ops": 1}], "'cycles' must be an integer"),
        ([{"cycles": 5, "ops": 1}], "'name' must be a non-empty string"),
        ([{"name": "a", "cycles": 5, "ops": 1, "lanes": 0}], "'lanes' must be"),
        (["conv"], "layer 0 must be a mapping"),
    ],
)
def test_bad_input_is_a_clear_error(layers, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        roofline(layers)


def test_from_the_rtl_design_matches_the_cycle_model(tmp_path):
    """The RTL stage's summary: steady-state cycles are rtlgen.mvu_cycles less its fill."""
    design = generate(build_qonnx(random_network(8)), tmp_path / "rtl")
    summary = design_summary(design)
    view = from_design(summary)
    assert [layer.name for layer in view.layers] == [ly["name"] for ly in summary["layers"]]
    for layer, entry in zip(view.layers, summary["layers"], strict=True):
        model = mvu_cycles(entry["k"], entry["out"], entry["pe"], entry["simd"], entry["vectors"])
        assert layer.cycles == model - MVU_LATENCY == entry["cycles"] - LAYER_LATENCY
        assert layer.lanes == entry["pe"] * entry["simd"]
        assert layer.ops == entry["vectors"] * entry["k"] * entry["out"]
        assert layer.ops_per_cycle == layer.lanes  # an MVU works every lane every cycle
    assert view.bottleneck.name == summary["bottleneck"]
    with pytest.raises(ConfigError, match="no 'layers'"):
        from_design({"cycles_per_image": 10})


def test_plot_draws_both_panels():
    fig = plot(roofline(LAYERS))
    left, right = fig.axes
    assert [t.get_text() for t in left.get_yticklabels()] == ["conv1", "conv2", "fc"]
    assert len(left.patches) == 3 and len(right.patches) == 6
    assert "cycles" in left.get_xlabel() and "ops per cycle" in right.get_xlabel()
    fig.clf()


def test_roofline_imports_neither_torch_nor_matplotlib():
    """sim is torch-free (DESIGN.md) and matplotlib is only the train extra's."""
    import subprocess
    import sys

    code = (
        "import sys, adderflow.sim.roofline\n"
        "heavy = [m for m in ('torch', 'matplotlib') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
