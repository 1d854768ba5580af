"""report.html renders in a real headless Chromium: checked on the screenshot's pixels."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tools import require_tool

from adderflow.report import render_report
from adderflow.report_html import ADDER_COLOR, BNN_COLOR, MUL_COLOR, render_html

METRICS = {
    "dataset": "digits",
    "bits": 8,
    "teacher": {"accuracy": 0.99, "params": 100},
    "student": {"accuracy": 0.97, "params": 100},
    "quantized": {"accuracy": 0.96},
    "equivalence": {"torch_vs_reference": {"samples": 360, "mismatches": 0}},
    "ops": {"student": {"add": 400000, "mul": 10000}, "teacher": {"add": 200000, "mul": 200000}},
}


def screenshot(page: str, tmp_path: Path, height: int = 2000) -> np.ndarray:
    chromium = require_tool("chromium", "apt-get install -y chromium")
    html_file = tmp_path / "report.html"
    html_file.write_text(page)
    png = tmp_path / "shot.png"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            f"--window-size=1000,{height}",
            f"--screenshot={png}",
            html_file.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return np.asarray(Image.open(png).convert("RGB")).astype(int)


def pixels_near(image: np.ndarray, hex_color: str, tol: int = 12) -> int:
    rgb = np.array([int(hex_color[i : i + 2], 16) for i in (1, 3, 5)])
    return int((np.abs(image - rgb).max(axis=-1) <= tol).sum())


def test_sections_and_plots_are_drawn(tmp_path):
    image = screenshot(render_html(METRICS, ["adderflow run"]), tmp_path)
    assert image.shape[1] == 1000
    assert pixels_near(image, ADDER_COLOR) > 20000  # accuracy and ops bars
    assert pixels_near(image, MUL_COLOR) > 5000  # the CNN teacher's multiplications
    assert pixels_near(image, "#d8f3dc") > 2000  # the bit-exact row's green
    assert pixels_near(image, "#ffccd5") < 300  # only anti-aliased plot edges, no red row


def test_a_mismatch_shows_red(tmp_path):
    metrics = dict(METRICS, equivalence={"rtl": {"samples": 10, "mismatches": 2}})
    image = screenshot(render_html(metrics, []), tmp_path)
    assert pixels_near(image, "#ffccd5") > 2000


def test_page_is_self_contained():
    page = render_html(METRICS, ["adderflow run"])
    assert "http://" not in page and "https://" not in page
    assert page.count("data:image/png;base64,") == 2
    for heading in ("Accuracy per stage", "Equivalence", "Energy per layer", "FPGA", "Reproduce"):
        assert heading in page


@pytest.mark.parametrize("missing", ["ops", "equivalence"])
def test_missing_sections_name_their_command(missing):
    metrics = {k: v for k, v in METRICS.items() if k != missing}
    assert "adds it" in render_html(metrics, [])


def test_energy_section_plots_both_twins(tmp_path):
    from test_ir import random_network

    from adderflow.export.qonnx_builder import build_qonnx
    from adderflow.sim.cost import twins

    metrics = dict(METRICS, cost=twins(build_qonnx(random_network(8))).to_dict())
    page = render_html(metrics, [])
    # accuracy, model totals, then per-layer operations and per-layer energy
    assert page.count("data:image/png;base64,") == 4
    assert "CNN twin arith pJ" in page and "BNN twin arith pJ" in page and "AdderConv" in page
    assert "xnor int1: priced as add" in page  # derived energies are labelled
    image = screenshot(page, tmp_path, height=3200)
    without = screenshot(render_html(METRICS, []), tmp_path, height=3200)
    assert pixels_near(image, MUL_COLOR) > pixels_near(without, MUL_COLOR) + 2000
    assert pixels_near(image, BNN_COLOR) > pixels_near(without, BNN_COLOR) + 300


def _design(tmp_path: Path) -> dict:
    from test_ir import random_network

    from adderflow.export.qonnx_builder import build_qonnx
    from adderflow.hw.network import generate
    from adderflow.rtl_flow import design_summary

    return design_summary(generate(build_qonnx(random_network(8)), tmp_path / "rtl"))


FPGA = {
    "device": "LFE5U-25F-6BG381C",
    "luts": 7065,
    "ffs": 3000,
    "brams": 4,
    "dsps": 0,
    "fmax_mhz": 100.0,
    "available": {"luts": 24288, "ffs": 24288, "brams": 56, "dsps": 28},
    "adder": {"luts": 7065, "ffs": 3000, "dsps": 0},
    "mac": {"luts": 20493, "ffs": 3100, "dsps": 0},
    "seed": 3,
}


def test_throughput_section_only_with_rtl_data(tmp_path):
    assert "Throughput" not in render_html(METRICS, [])
    design = _design(tmp_path)
    metrics = dict(METRICS, rtl={"design": design})
    page = render_html(metrics, [])
    assert "Throughput: which layer bounds the pipeline" in page
    assert f"Bottleneck: {design['bottleneck']}" in page and "adderflow rtl RUN" in page
    assert "images/s" not in page  # no Fmax without synthesis
    with_fpga = render_html(dict(metrics, fpga=FPGA), [])
    interval = max(layer["mvu_cycles"] for layer in design["layers"])
    assert f"{100e6 / interval:,.0f} images/s at Fmax 100 MHz" in with_fpga
    other_folding = dict(FPGA, design_simulated=False)  # synthesized a different folding
    assert "images/s" not in render_html(dict(metrics, fpga=other_folding), [])
    image = screenshot(page, tmp_path, height=2600)
    without = screenshot(render_html(METRICS, []), tmp_path, height=2600)
    # the bottleneck bar and table row are drawn in the multiplier colour / red row
    assert pixels_near(image, MUL_COLOR) > pixels_near(without, MUL_COLOR) + 1000
    assert pixels_near(image, "#ffccd5") > 1000


def test_fpga_utilisation_and_adder_versus_mac(tmp_path):
    page = render_html(dict(METRICS, fpga=FPGA), [])
    assert "LFE5U-25F-6BG381C" in page and "29.1%" in page  # 7065 of 24288 LUTs
    assert "<td>2.90×</td>" in page  # 20493 / 7065 LUTs, mac over adder
    assert "<td>seed</td>" in page  # unknown keys are shown, not dropped
    image = screenshot(page, tmp_path, height=2600)
    without = screenshot(render_html(METRICS, []), tmp_path, height=2600)
    assert pixels_near(image, MUL_COLOR) > pixels_near(without, MUL_COLOR) + 3000
    assert pixels_near(image, ADDER_COLOR) > pixels_near(without, ADDER_COLOR) + 1000
    assert "No FPGA synthesis" in render_html(METRICS, [])
    assert "adderflow synth RUN" in render_html(METRICS, [])


def test_uncounted_ops_are_named_in_both_reports(tmp_path):
    from test_cost import _with_unknown_op

    from adderflow.config import Config
    from adderflow.sim.cost import twins

    metrics = dict(METRICS, cost=twins(_with_unknown_op()).to_dict())
    page = render_html(metrics, [])
    assert "Not counted" in page and "Erf (node mystery)" in page
    assert "Erf (node mystery)" in render_report(metrics, Config(), None)
    image = screenshot(page, tmp_path, height=3200)
    assert pixels_near(image, "#ffccd5") > 2000  # the red box naming it


def test_markdown_report_has_energy_and_throughput(tmp_path):
    from test_ir import random_network

    from adderflow.config import Config
    from adderflow.export.qonnx_builder import build_qonnx
    from adderflow.sim.cost import twins

    cost = twins(build_qonnx(random_network(8))).to_dict()
    metrics = dict(METRICS, cost=cost, rtl={"design": _design(tmp_path)})
    text = render_report(metrics, Config(), None)
    assert "| per image | ANN (as exported) | CNN twin | BNN twin |" in text
    assert f"| xnor | 0 | 0 | {cost['bnn']['total']['xnor']:,} |" in text
    assert "## Throughput (dataflow pipeline)" in text and "◀ bottleneck" in text
    assert "Throughput" not in render_report(METRICS, Config(), None)


DSE = {
    "network": "quick (auto, adder)",
    "clock_mhz": 25.0,
    "front": [
        {"interval": 1166, "images_per_second": 21440.8, "luts": 64859, "lanes": 792},
        {"interval": 9230, "images_per_second": 2708.6, "luts": 11623, "lanes": 102},
        {"interval": 442382, "images_per_second": 56.5, "luts": 3865, "lanes": 4},
    ],
    "confirmed": [
        {"interval": 9230, "images_per_second": 2708.6, "luts": 11623, "lanes": 102,
         "yosys": {"luts": 12500}},
    ],  # fmt: skip
    "command": "python bench/dse.py --run RUN --confirm 1 --record",
}


def test_design_space_section_only_with_dse_data():
    assert "Design space" not in render_html(METRICS, [])
    page = render_html(dict(METRICS, dse=DSE), [])
    section = page[page.index("Design space: LUTs against images/s"):]
    assert "3 foldings on the front, from 56.5 to 21,440.8 images/s at 25 MHz" in section
    assert "64,859 estimated LUT sites at the fast end" in section
    assert "<td>11,623</td><td>12,500</td><td>-7.0%</td>" in section
    assert section.index("<img") < section.index("FPGA utilisation")
    assert "python bench/dse.py --run RUN --confirm 1 --record" in section
