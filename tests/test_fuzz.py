"""The differential fuzzer (tests/fuzz.py) in CI: random networks over the whole contract
domain, every backend compared code for code with the reference, RTL cycles with the model,
and every refusal a named one. A failure prints the shrunk, smallest network showing it.

CI sizes (fixed seeds; ``bench/fuzz.py`` is the long mode):
- reference / qonnx / onnxruntime: ``NETWORKS`` networks x ``fuzz.IMAGES`` images each;
- RTL: structures drawn like any case, each compiled once and run with many parameter sets
  (``fuzz.revalued``: weights, multipliers, biases and images redrawn over the same ranges,
  so ``af_network.v`` is the same text and the cached bench is reused);
- hls4ml C-simulation the same way: its library reads the weight files on its first call,
  so a structure is compiled once and reloaded with each parameter set's files.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
from fuzz import (
    Draws,
    Mismatch,
    check_case,
    describe,
    draw_case,
    expected_outcome,
    fails_with,
    random_cases,
    revalued,
    run_one,
    shrink,
)
from tools import missing, require_module, require_tool

from adderflow.sim.onnx_io import node_attr

# 2,000 networks x 16 images = 32,000 network-image cases per backend.
NETWORKS = int(os.environ.get("ADDERFLOW_FUZZ_NETWORKS", "2000"))
PARTS = 5


def _check_all(cases, backends, workdir) -> None:
    for case in cases:
        try:
            check_case(case, backends, workdir)
        except Mismatch as exc:
            small = shrink(case.choices, fails_with(backends, workdir))
            pytest.fail(f"{exc}\nsmallest failing network:\n{describe(small)}")


@pytest.mark.parametrize("part", range(PARTS))
def test_reference_qonnx_onnxruntime(tmp_path, part):
    """NETWORKS networks in five parts through qonnx and onnxruntime; about 4 % step outside
    the contract on purpose and must be refused by the load check, naming a node."""
    cases = random_cases(seed=1000 + part, count=NETWORKS // PARTS)
    assert len(cases) < 200 or sum(c.violation is not None for c in cases) > 0
    _check_all(cases, ("qonnx", "onnxruntime"), tmp_path)


def _families(backend: str, seed: int, target: int, variants: int, tmp_path):
    """Run in-contract structures, ``variants`` parameter sets each (``fuzz.revalued``),
    until ``target`` cases ran; a structure the backend cannot map (the RTL and hls4ml take
    fewer shapes than the IR holds) must be refused by name (``run_one`` checks)."""
    rng = np.random.default_rng(seed)
    ran = refused = 0
    outputs: set[bytes] = set()  # parameter sets must change the codes (no stale weights)
    for base in random_cases(seed, 400, allow_violations=False):
        # A structure whose codes saturate to a few values would not show stale weights.
        if len(np.unique(expected_outcome(revalued(base, rng)))) < 4:
            continue
        for case in (revalued(base, rng) for _ in range(variants)):
            if ran >= target:
                assert len(outputs) > ran // 2, f"{len(outputs)} distinct outputs of {ran}"
                return ran, refused
            expected = expected_outcome(case)
            try:
                got = run_one(backend, case, tmp_path)
            except Mismatch as exc:
                pytest.fail(f"{exc}\nnetwork:\n{describe(case)}")
            if got is None:
                refused += 1
                break  # the whole family has the same structure
            np.testing.assert_array_equal(got.reshape(expected.shape), expected, describe(case))
            outputs.add(np.asarray(expected).tobytes())
            ran += 1
    return ran, refused


def test_icarus(tmp_path):
    require_tool("iverilog", "apt-get install -y iverilog")
    ran, refused = _families("icarus", 11, target=100, variants=8, tmp_path=tmp_path)
    assert ran == 100 and refused > 0, (ran, refused)


def test_verilator(tmp_path):
    """One structure, compiled once, 100 parameter sets (a Verilator build is ~30-70 s)."""
    from adderflow.errors import AdderflowError
    from adderflow.hw.simulate import tool_path

    try:
        tool_path("verilator")
    except AdderflowError as exc:
        missing(str(exc))
    ran, refused = _families("verilator", 12, target=100, variants=100, tmp_path=tmp_path)
    assert ran == 100, (ran, refused)


@pytest.mark.parametrize("io_type", ["hls_parallel", "hls_stream"])
def test_hls4ml(tmp_path, io_type):
    """100 cases per io type: structures compiled once each (``fuzz.hls_codes`` reloads the
    library with the next case's weight files), binary ones refused by name."""
    require_module("hls4ml", "pip install -e '.[hls]'")
    require_tool("g++", "apt-get install -y g++")
    seed = 21 if io_type == "hls_parallel" else 22
    ran, refused = _families(io_type, seed, target=100, variants=100, tmp_path=tmp_path)
    assert ran == 100, (ran, refused)


def test_shrinker_finds_the_smallest_failing_network(tmp_path):
    """A planted bug (onnxruntime off by one after any 3x3 conv) shrinks to a network of one
    3x3 conv and its requantization."""
    import fuzz

    def buggy(case, workdir):
        got = fuzz._run_onnxruntime(case, workdir)
        convs = [n for n in case.model.graph.node if n.op_type.endswith("Conv")]
        if any(list(node_attr(n, "kernel_shape")) == [3, 3] for n in convs):
            got = got + 1
        return got

    saved = fuzz.RUNNERS["onnxruntime"]
    fuzz.RUNNERS["onnxruntime"] = buggy
    try:
        fails = fails_with(["onnxruntime"], tmp_path)
        failing = next(c for c in random_cases(7, 400, allow_violations=False) if fails(c))
        small = shrink(failing.choices, fails)
    finally:
        fuzz.RUNNERS["onnxruntime"] = saved
    assert not fails_with(["onnxruntime"], tmp_path)(small)  # the real backend is right
    ops = [n.op_type for n in small.model.graph.node if n.domain == "adderflow"]
    assert ops in (["AdderConv", "Requant"], ["IntConv", "Requant"]), describe(small)
    assert small.net.input_shape[0] == 1 and sum(small.choices) < sum(failing.choices)


def test_choice_sequences_replay_exactly():
    case = draw_case(Draws(rng=random.Random(3)))
    again = draw_case(Draws(case.choices))
    assert again.model.SerializeToString() == case.model.SerializeToString()
    np.testing.assert_array_equal(again.images, case.images)
