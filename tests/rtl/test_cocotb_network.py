"""A generated whole network under cocotb: the stream protocol end to end.

The bulk bench (tests/test_rtl_network.py) drives the network at full rate; here the same
generated ``af_network`` takes its input with random gaps and gives its output under
random back-pressure, on Verilator and Icarus, and must still produce the reference's
codes; at full rate one image must take exactly the cycle model's count. Two networks:
adder layers, and binary layers (threshold units, xnor MVUs on ±1/0 codes).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from stream_tests import STREAM_TESTS as TESTS
from stream_tests import stream_full_rate, stream_under_pressure  # noqa: F401 (cocotb finds them here)

# ---- pytest side ---------------------------------------------------------------------


def scenario(design, codes, expected, seed, p_gap, p_stall, cycles) -> dict:
    return {
        "in_words": design.input_words(codes),
        "expected": expected.reshape(-1, design.out_lanes).tolist(),
        "lanes": design.out_lanes,
        "lane_bits": design.out_bits,
        "p_gap": p_gap,
        "p_stall": p_stall,
        "longest": 12,
        "seed": seed,
        "cycles": cycles,
    }


def test_network_streams_under_pressure(hdl, sim, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/networks.py
    from networks import calibrated, images, random_network

    from adderflow.export.qonnx_builder import build_qonnx
    from adderflow.hw.network import generate
    from adderflow.sim.executor import output_name, run_reference

    x = images(7, n=3)
    model = build_qonnx(calibrated(random_network(8, seed=7, channels=4), x))
    design = generate(model, tmp_path / "rtl", target=1200)
    reference = run_reference(model, x)
    codes, out = reference["input_codes"], reference[output_name(model)]
    assert len(np.unique(out, axis=0)) > 1
    case = {
        "pressure": scenario(design, codes[:2], out[:2], 7, 0.15, 0.3, None),
        "full_rate": scenario(design, codes[2:], out[2:], 7, 0.0, 0.0, design.cycles),
    }
    path = design.directory / "case.json"
    path.write_text(json.dumps(case))
    build = hdl.build(sim, "af_network", design.sources, {})
    outcomes = hdl.run(build, "test_cocotb_network", design.directory, path)
    hdl.assert_passed(outcomes, TESTS)


def test_binary_network_streams_under_pressure(hdl, sim, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/binary_networks.py
    from binary_networks import binary_images, binary_ir

    from adderflow.hw.network import generate
    from adderflow.sim.executor import output_name, run_reference

    x = binary_images(8, 3)
    model = binary_ir(x, 8, channels=(2, 4, 2))
    design = generate(model, tmp_path / "rtl", target=1200)
    reference = run_reference(model, x)
    codes, out = reference["input_codes"], reference[output_name(model)]
    assert len(np.unique(out, axis=0)) > 1
    assert {layer["post"] for layer in design.layers} == {"threshold", "requant"}
    case = {
        "pressure": scenario(design, codes[:2], out[:2], 8, 0.15, 0.3, None),
        "full_rate": scenario(design, codes[2:], out[2:], 8, 0.0, 0.0, design.cycles),
    }
    path = design.directory / "case.json"
    path.write_text(json.dumps(case))
    build = hdl.build(sim, "af_network", design.sources, {})
    outcomes = hdl.run(build, "test_cocotb_network", design.directory, path)
    hdl.assert_passed(outcomes, TESTS)
