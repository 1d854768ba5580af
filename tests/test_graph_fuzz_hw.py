"""The graph fuzzer (tests/graph_fuzz.py) through the hardware backends, in CI: fixed seeds
drawn to cover what broke when it first ran there (issue 21, [J2]), each through the
generated RTL on Verilator (codes equal to the reference, every image's cycles equal to
the planner's model) and hls4ml C-simulation in both io types (codes equal); a backend
that cannot take a case must refuse it by name (``fuzz.check_named``), and which seeds
each backend refuses is pinned, so a case that starts being refused fails too.

The seeds (``SEEDS``; one build per seed and backend, so each backend runs the ones that
tell it something, and a refusal costs no build):
- 30 (hls4ml; the RTL built it right already): 1-D input reshape, stem, two squeeze-excite
  gates (window sum → 1x1 conv → product);
- 36: stem, conv branch, identity residual add, flatten, dense head (with 30: hls4ml
  io_stream crashed in the join template once its clone pass had rewired the layer list
  the next build reused);
- 44, 46: a 3-beat stream forked into a conv and a residual add (the RTL planner's own
  handshake model deadlocked on the FIFO-less fork);
- 35: a depthwise conv reading the stem (the RTL's default target once asked for lanes
  the group cannot carry: "no folding reaches 108 cycles per image");
- 2 (RTL): a line of layers whose last gives a frame (once refused; a graph could end on
  a frame, so such a line is now built as one);
- 32 (RTL) and 33 (hls4ml): refused by name (a window sum with kernel != stride; a binary
  dense head's threshold).
The long sweep (seeds 0-150, all three backends) and its counts: docs/benchmarks.md,
"Differential fuzzer".
"""

from __future__ import annotations

import random

import pytest
from fuzz import Draws, compare, describe, expected_outcome, run_one
from graph_fuzz import draw_graph_case
from tools import missing, require_module, require_tool

SEEDS = {
    "verilator": (2, 32, 35, 36, 44, 46),
    "hls_parallel": (30, 33, 36, 44, 46),
    "hls_stream": (30, 33, 36, 44, 46),
}
# The seeds each backend refuses, by name.
REFUSED = {"verilator": {32}, "hls_parallel": {33}, "hls_stream": {33}}


def _require(backend: str) -> None:
    if backend == "verilator":
        from adderflow.errors import AdderflowError
        from adderflow.hw.simulate import tool_path

        try:
            tool_path("verilator")
        except AdderflowError as exc:
            missing(str(exc))
    else:
        require_module("hls4ml", "pip install -e '.[hls]'")
        require_tool("g++", "apt-get install -y g++")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["verilator", "hls_parallel", "hls_stream"])
def test_graph_cases_on_the_hardware_backends(tmp_path, backend):
    _require(backend)
    refused = set()
    for seed in SEEDS[backend]:
        case = draw_graph_case(Draws(rng=random.Random(seed)))
        expected = expected_outcome(case)
        assert expected is not None, f"seed {seed}: the load check refused a graph case"
        got = run_one(backend, case, tmp_path)  # a refusal must name a node; cycles checked
        if got is None:
            refused.add(seed)
            continue
        try:
            compare(backend, expected, got)
        except AssertionError as exc:
            pytest.fail(f"seed {seed}: {exc}\n{describe(case)}")
    assert refused == REFUSED[backend]


@pytest.mark.sweep
@pytest.mark.parametrize("backend", ["verilator", "hls_parallel", "hls_stream"])
def test_graph_sweep_on_the_hardware_backends(tmp_path, backend):
    """Seeds 0-150 (about 13 minutes a backend on a quiet core): no mismatch, no unnamed
    failure; prints the cases run and refused (docs/benchmarks.md records a run)."""
    _require(backend)
    ran, refused = 0, []
    for seed in range(151):
        case = draw_graph_case(Draws(rng=random.Random(seed)))
        expected = expected_outcome(case)
        got = run_one(backend, case, tmp_path)
        if got is None:
            refused.append(seed)
            continue
        try:
            compare(backend, expected, got)
        except AssertionError as exc:
            pytest.fail(f"seed {seed}: {exc}\n{describe(case)}")
        ran += 1
    print(f"{backend}: {ran} equal to the reference, {len(refused)} refused by name")
    assert ran > len(refused)
