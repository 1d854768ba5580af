"""The plain C++ Verilator harness (``adderflow.hw.harness``) on a generated network.

One build (it is the slow part): the harness must give the reference's output codes, the
cycle model's count for every image (serial) and the same codes streaming; a second
request, and the same RTL generated into another directory, must come from the cache.
"""

from __future__ import annotations

import numpy as np
from networks import images
from test_rtl_network import network, require

from adderflow.hw import harness
from adderflow.hw.network import generate
from adderflow.sim.executor import output_name, run_reference


def test_harness_matches_reference_and_cycle_model_and_caches(tmp_path, monkeypatch):
    require("verilator")
    monkeypatch.setenv("ADDERFLOW_CACHE", str(tmp_path / "cache"))
    x = images(8, n=6)
    model = network(8, x, seed=11, k=3, stride=1, pad=1)
    design = generate(model, tmp_path / "rtl")
    reference = run_reference(model, x)
    codes, want = reference["input_codes"], reference[output_name(model)]

    serial, built = harness.run(design, codes, serial=True)
    assert not built.cached and built.seconds > 0
    np.testing.assert_array_equal(serial.codes, want)
    assert serial.latencies == [design.cycles] * len(x)

    stream, again = harness.run(design, codes, serial=False)
    assert again.cached and again.seconds == 0.0 and again.executable == built.executable
    np.testing.assert_array_equal(stream.codes, want)
    assert stream.cycles < serial.cycles  # images overlap

    elsewhere = generate(model, tmp_path / "rtl-again")
    assert harness.build(elsewhere).executable == built.executable
