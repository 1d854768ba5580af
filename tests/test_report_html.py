"""report.html renders in a real headless Chromium: checked on the screenshot's pixels."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from tools import require_tool

from adderflow.report_html import ADDER_COLOR, MUL_COLOR, render_html

METRICS = {
    "dataset": "digits",
    "bits": 8,
    "teacher": {"accuracy": 0.99, "params": 100},
    "student": {"accuracy": 0.97, "params": 100},
    "quantized": {"accuracy": 0.96},
    "equivalence": {"torch_vs_reference": {"samples": 360, "mismatches": 0}},
    "ops": {"student": {"add": 400000, "mul": 10000}, "teacher": {"add": 200000, "mul": 200000}},
}


def screenshot(page: str, tmp_path: Path) -> np.ndarray:
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
            "--window-size=1000,2000",
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
    assert page.count("data:image/png;base64,") == 3
    assert "CNN twin arith pJ" in page and "AdderConv" in page
    image = screenshot(page, tmp_path)
    without = screenshot(render_html(METRICS, []), tmp_path)
    assert pixels_near(image, MUL_COLOR) > pixels_near(without, MUL_COLOR) + 2000
