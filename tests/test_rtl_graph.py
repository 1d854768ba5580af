"""Graph networks through the RTL: a residual block with an identity shortcut and one with
a 1x1 projection shortcut (tests/graph_networks.py), on the Verilator compiled harness
(serial and back to back) and Icarus. Integer codes equal the reference's, every image's
cycles the graph handshake model's, and the skip FIFO's depth is the least that keeps the
schedule: one beat less holds the join back exactly as the model says, and a FIFO far too
shallow deadlocks (the RTL times out, the model names it).
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest
from graph_networks import inputs, residual_identity, residual_projection
from networks import random_network
from test_rtl_network import require

from adderflow.errors import AdderflowError
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.hw import harness
from adderflow.hw.network import Design, generate, network_cycles
from adderflow.hw.network import graph as graphs
from adderflow.hw.network.cycles import choose_folding
from adderflow.hw.network.design import plan_graph
from adderflow.hw.network.read import read_graph
from adderflow.hw.simulate import run_network
from adderflow.sim.executor import output_name, run_reference

BLOCKS = {
    "identity": lambda: residual_identity(8, seed=3),
    "projection": lambda: residual_projection(8, seed=4, pool=False),
}


def _images(net) -> np.ndarray:
    """Random codes, then all-max and all-min images (saturating the input quantizer)."""
    return np.concatenate(
        [inputs(net, 4, seed=7), inputs(net, 1, fill="max"), inputs(net, 1, fill="min")]
    )


@pytest.mark.parametrize("block", sorted(BLOCKS))
def test_residual_block_is_exact_and_cycle_exact_on_verilator_and_icarus(tmp_path, block):
    require("verilator")
    require("icarus")
    net = BLOCKS[block]()
    model, x = build_qonnx(net), _images(net)
    design = generate(model, tmp_path / "rtl")
    kinds = {s["kind"] for s in design.stages}
    assert {"fork", "add"} <= kinds
    reference = run_reference(model, x)
    codes, want = reference["input_codes"], reference[output_name(model)]
    assert len(np.unique(want.reshape(len(x), -1), axis=0)) > 2  # images are told apart

    serial, _ = harness.run(design, codes, serial=True)
    np.testing.assert_array_equal(serial.codes, want)
    assert serial.latencies == [design.cycles] * len(x)
    stream, _ = harness.run(design, codes, serial=False)
    np.testing.assert_array_equal(stream.codes, want)
    assert stream.cycles < serial.cycles  # images overlap through the FIFOs
    graph, kinds, _ = plan_graph(read_graph(model))
    assert stream.latencies == graphs.simulate(graph, kinds, len(x), serial=False).latencies
    icarus = run_network(design, codes[:2], "icarus")
    np.testing.assert_array_equal(icarus.codes, want[:2])
    assert icarus.latencies == [design.cycles] * 2


def _with_depth(design: Design, fifo: str, depth: int) -> None:
    """Rewrite one af_fifo's DEPTH in the generated top module."""
    path = design.directory / "af_network.v"
    top = path.read_text()
    pattern = rf"(\.DEPTH\()\d+(\),\s*\.W\(\d+\)\s*\)\s*u_{fifo} \()"
    new, count = re.subn(pattern, rf"\g<1>{depth}\g<2>", top)
    assert count == 1, fifo
    path.write_text(new)


def test_the_skip_fifo_one_beat_too_shallow_stalls_and_the_one_image_peak_less_one_deadlocks(
    tmp_path,
):
    require("icarus")
    net = BLOCKS["identity"]()
    model, x = build_qonnx(net), _images(net)[:3]
    graph, kinds, cycles = plan_graph(read_graph(model))
    (fifo,) = [s for s in graph.stages if s.kind == "fifo"]
    assert fifo.why.startswith(f"fifo for 'join' branch 'input': depth {fifo.depth} beats")

    def model_run(depth: int, images: int, serial: bool) -> graphs.handshake.GraphRun:
        stages = [replace(s, depth=depth) if s is fifo else s for s in graph.stages]
        return graphs.simulate(replace(graph, stages=stages), kinds, images, serial)

    # The depth: no refused beat one image from idle nor back to back; one less: a stall.
    runs = {(d, n): model_run(d, n, n == 1) for d in (fifo.depth, fifo.depth - 1) for n in (1, 3)}
    assert not any(runs[(fifo.depth, n)].stalls[fifo.name] for n in (1, 3))
    assert any(runs[(fifo.depth - 1, n)].stalls[fifo.name] for n in (1, 3))
    assert runs[(fifo.depth, 1)].latencies == [cycles]
    # One image alone needs about a frame held while conv1 and conv2 work: below the least
    # live depth nothing moves (the model's deadlock, the RTL's timeout).
    live = model_run(0, 1, True).peaks[fifo.name][0]
    while True:
        try:
            short = model_run(live - 1, 1, True)
        except AdderflowError as exc:
            assert "deadlock" in str(exc)
            break
        assert short.latencies[0] >= cycles
        live -= 1
    assert 10 < live < fifo.depth

    reference = run_reference(model, x)
    codes, want = reference["input_codes"], reference[output_name(model)]
    design = generate(model, tmp_path / "rtl")
    for depth in (fifo.depth, fifo.depth - 1):  # the model is exact with the stall too
        _with_depth(design, fifo.name, depth)
        result = run_network(design, codes, "icarus", serial=False)
        np.testing.assert_array_equal(result.codes, want)
        assert result.latencies == runs[(depth, 3)].latencies, depth
    _with_depth(design, fifo.name, live)
    assert run_network(design, codes[:1], "icarus").latencies == model_run(live, 1, True).latencies
    _with_depth(design, fifo.name, live - 1)
    with pytest.raises(AdderflowError, match="timed out"):
        run_network(design, codes[:1], "icarus")


@pytest.mark.parametrize(
    "seed, join, operand", [(44, "b1_add", "b0_sum"), (46, "b2_add", "b1_gate")]
)
def test_a_join_operand_waiting_a_short_frame_gets_a_fifo(seed, join, operand):
    """Graph fuzzer seeds 44 and 46: a 3-beat stream forks into a conv (its window loads the
    whole frame before emitting) and a join that waits for that conv. The join's branch
    holds 3 beats, within ``PASS_WORDS``, so the planner gave it no FIFO; the fork's
    two-word slice then filled, the window never got its last beat: a deadlock of the
    planner's own model. Now the fork output that waits longest gets a FIFO until the
    graph drains, one image from idle and images back to back."""
    import random

    from fuzz import Draws
    from graph_fuzz import draw_graph_case

    case = draw_graph_case(Draws(rng=random.Random(seed)))
    graph, kinds, cycles = plan_graph(read_graph(case.model))
    fork = graph.stage(f"{operand}_fork")
    assert fork.frame[1] * fork.frame[2] * fork.frame[0] // fork.lanes == 3
    (fifo,) = [s for s in graph.stages if s.kind == "fifo" and s.inputs[0][0] == fork.name]
    assert graph.readers((fifo.name, 0))[0][0].name == join
    # One image from idle it holds no more than PASS_WORDS (the old rule's "no FIFO").
    unbounded = [replace(s, depth=0) if s is fifo else s for s in graph.stages]
    peak = graphs.simulate(replace(graph, stages=unbounded), kinds).peaks[fifo.name][0]
    assert peak <= graphs.PASS_WORDS
    assert graphs.simulate(graph, kinds).latencies == [cycles]
    back = graphs.simulate(graph, kinds, 3, serial=False)
    assert len(back.latencies) == 3 and not any(back.stalls.values())


@pytest.mark.parametrize("seed", [35, 42])
def test_the_default_target_is_one_the_lanes_can_reach(seed):
    """Graph fuzzer seeds 35 and 42: a depthwise conv reads the stem's stream, so that
    class carries one lane (a beat is one group's channels), but the default target took
    the stem at its own gcd of 3 lanes, 3 times faster than any folding: "no folding
    reaches 108 cycles per image; layer 'stem' alone needs at least 108". The class's
    lanes now also divide each grouped reader's and writer's channels per group."""
    import random

    from fuzz import Draws
    from graph_fuzz import draw_graph_case

    case = draw_graph_case(Draws(rng=random.Random(seed)))
    graph = graphs.with_forks(read_graph(case.model))
    assert any(s.layer is not None and s.layer.groups > 1 for s in graph.stages)
    target = graphs.graph_target(graph)
    planned, _, _ = plan_graph(graph)
    folds = [
        s.layer.fold_cycles(s.lanes, planned.lanes_of(s.inputs[0]))
        for s in planned.stages
        if s.layer is not None
    ]
    assert max(folds) == target


def test_a_line_ending_on_a_frame_is_built_as_a_graph():
    """Graph fuzzer seed 2 (1-D reshape, stem, grouped conv on a 4x1x2 frame): a line of
    layers was refused when its last layer gave a frame, though a graph's output stream
    carries one; it is now planned as a graph (the Verilator check: test_graph_fuzz_hw)."""
    import random

    from fuzz import Draws
    from graph_fuzz import draw_graph_case

    from adderflow.errors import ConfigError
    from adderflow.hw.network import read_layers

    case = draw_graph_case(Draws(rng=random.Random(2)))
    graph = read_graph(case.model)
    assert all(s.kind == "layer" for s in graph.stages) and not graph.is_line
    planned, kinds, cycles = plan_graph(graph)
    assert graphs.simulate(planned, kinds).latencies == [cycles]
    with pytest.raises(ConfigError, match=r"node 'b0_group': the network ends on a frame"):
        read_layers(case.model)


@pytest.mark.parametrize("seed, target", [(1, None), (2, 5000), (3, 20000)])
def test_a_line_network_keeps_its_closed_form_in_the_graph_model(seed, target):
    """The graph stepping of a line of layers equals ``network_cycles``' closed form."""
    graph = read_graph(build_qonnx(random_network(8, seed=seed)))
    assert graph.is_line
    folding = choose_folding(graph.layers, target)
    lanes = {None: folding.simd[0]} | {
        (s.name, 0): pe for s, pe in zip(graph.stages, folding.pe, strict=True)
    }
    run = graphs.simulate(graphs.set_lanes(graph, lanes))
    assert run.latencies == [network_cycles(graph.layers, folding, graph.frame)]
