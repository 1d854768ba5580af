"""Design-space exploration (``adderflow.hw.network.explore``): the least-estimated-area
folding for an interval equals a brute-force search, its estimate is the generated
design's, the interval bound holds against the handshake model streaming images back to
back, and refusals name the thing (the chosen design on Verilator: tests/test_cli.py)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from networks import calibrated, images, random_network

from adderflow.errors import ConfigError
from adderflow.export.qonnx_builder import build_qonnx
from adderflow.hw.area_estimate import design_estimate
from adderflow.hw.network import Folding, divisors, generate, read_layers
from adderflow.hw.network.explore import (
    cheapest_folding,
    interval_for_fps,
    layer_options,
    pareto_front,
    stream_interval,
)


def model(seed: int, pool: str = "max", channels: int = 4, hidden: str = "adder"):
    x = images(seed, n=4)
    net = random_network(8, seed=seed, channels=channels, pool=pool, hidden=hidden)
    return build_qonnx(calibrated(net, x)), x


def brute_force(layers, frame, interval: int) -> float | None:
    """The least estimated LUTs over every folding whose bound meets ``interval``."""
    options = layer_options(layers)
    by_fold = [{(o.pe, o.simd): o for o in opts} for opts in options]
    best = None
    for simd0 in divisors(layers[0].channels):
        for pes in itertools.product(*(divisors(layer.out) for layer in layers)):
            simds = (simd0, *pes[:-1])
            if any(layer.channels % s for layer, s in zip(layers, simds, strict=True)):
                continue
            chosen = [table[(p, s)] for table, p, s in zip(by_fold, pes, simds, strict=True)]
            frame_beats = frame[0] * frame[1] * frame[2] // simd0
            cycles = [frame_beats, *(o.cycles for o in chosen)]
            if max(a + b for a, b in itertools.pairwise(cycles)) > interval:
                continue
            luts = sum(o.estimate.luts for o in chosen)
            best = luts if best is None else min(best, luts)
    return best


@pytest.mark.parametrize(("seed", "pool"), [(0, "max"), (1, "avg"), (2, "max")])
def test_search_equals_brute_force_along_the_front(seed, pool):
    m, _ = model(seed, pool)
    layers, frame, _ = read_layers(m)
    front = pareto_front(layers)
    assert len(front) > 3
    # Fastest first, each point strictly cheaper and slower than the one before.
    for a, b in itertools.pairwise(front):
        assert a.interval < b.interval and a.luts > b.luts
    for point in front:
        assert brute_force(layers, frame, point.interval) == pytest.approx(point.luts)
        # One cycle less than a front point's bound: only the faster points' cost remains.
        faster = [p.luts for p in front if p.interval < point.interval]
        want = min(faster) if faster else None
        assert brute_force(layers, frame, point.interval - 1) == (
            pytest.approx(want) if want is not None else None
        )


def test_estimate_of_the_chosen_folding_is_the_generated_designs(tmp_path):
    m, _ = model(3, "avg", channels=6)
    layers, frame, _ = read_layers(m)
    for point in pareto_front(layers)[::4]:
        design = generate(m, tmp_path / str(point.interval), fold=lambda _, p=point: p.folding)
        total, _ = design_estimate(design)
        assert total.values() == pytest.approx(point.estimate.values())
        assert tuple(ly["pe"] for ly in design.layers) == point.folding.pe


def test_bound_holds_against_images_streamed_back_to_back():
    """The handshake model over four images: the steady interval never exceeds the bound,
    and it is more than the slowest layer's own cycles (the windows are single-buffered)."""
    m, _ = model(4, channels=4)
    layers, frame, _ = read_layers(m)
    options = layer_options(layers)
    rng = np.random.default_rng(0)
    tried = 0
    while tried < 12:
        pes = tuple(int(rng.choice(divisors(layer.out))) for layer in layers)
        simd0 = int(rng.choice(divisors(layers[0].channels)))
        simds = (simd0, *pes[:-1])
        if any(layer.channels % s for layer, s in zip(layers, simds, strict=True)):
            continue
        tried += 1
        chosen = [
            next(o for o in opts if (o.pe, o.simd) == (p, s))
            for opts, p, s in zip(options, pes, simds, strict=True)
        ]
        beats = frame[0] * frame[1] * frame[2] // simd0
        cycles = [beats, *(o.cycles for o in chosen)]
        bound = max(a + b for a, b in itertools.pairwise(cycles))
        stepped = stream_interval(layers, Folding(pes, simds))
        assert max(o.cycles for o in chosen) < stepped <= bound, (pes, simd0)


def test_cheapest_folding_is_the_front_point_and_generates(tmp_path):
    m, _ = model(5, channels=4)
    layers, frame, _ = read_layers(m)
    front = pareto_front(layers)
    mid = front[len(front) // 2]
    for slack in (0, 1):  # a target between two front points gets the slower, cheaper one
        point = cheapest_folding(layers, mid.interval + slack)
        assert point.folding == mid.folding and point.luts == mid.luts
    design = generate(m, tmp_path / "rtl", fold=lambda _: mid.folding)
    assert (tuple(ly["pe"] for ly in design.layers), design.in_lanes) == (
        mid.folding.pe, mid.folding.simd[0])  # fmt: skip
    assert stream_interval(layers, mid.folding) <= mid.interval


def test_mac_layers_use_their_own_coefficients():
    adder, _ = model(6, hidden="adder")
    mac, _ = model(6, hidden="mul")
    la, frame, _ = read_layers(adder)
    lm, _, _ = read_layers(mac)
    fa, fm = pareto_front(la), pareto_front(lm)
    assert fm[0].estimate.dsps > fa[0].estimate.dsps
    assert pareto_front(lm, dsp=False)[0].estimate.dsps == 0


def test_fps_and_refusals():
    assert interval_for_fps(1000, 25.0) == 25_000
    assert interval_for_fps(3, 1.0) == 333_333
    for fps, clock, what in ((0, 25.0, "images per second"), (-1, 25.0, "images per second"),
                             (10, 0.0, "clock"), (1e9, 25.0, "under one cycle")):  # fmt: skip
        with pytest.raises(ConfigError, match=what):
            interval_for_fps(fps, clock)
    m, _ = model(7)
    layers, frame, _ = read_layers(m)
    with pytest.raises(ConfigError, match=r"no folding reaches 5 cycles .*layer '\w+'"):
        cheapest_folding(layers, 5)


def test_graph_unit_estimates_count_memories_and_refuse_af_lut():
    from adderflow.hw import area_estimate as est

    fifo = est.graph_unit_estimate("fifo", {"DEPTH": 32, "W": 64})
    assert (fifo.lutram, fifo.brams) == (32, 0)  # 16 words x 4 bits a cell
    deep = est.graph_unit_estimate("fifo", {"DEPTH": 1024, "W": 16})
    assert (deep.lutram, deep.brams) == (0, 1)  # one 1024x18 DP16KD
    wide = est.graph_unit_estimate("fifo", {"DEPTH": 1024, "W": 40})
    assert wide.brams == 3
    gate = {"C": 16, "PIXELS": 64, "LANES": 4, "A_BITS": 8, "B_BITS": 8, "OUT_BITS": 16}
    assert est.graph_unit_estimate("mul", gate).dsps == 4
    assert est.graph_unit_estimate("mul", gate, dsp=False).dsps == 0
    two = est.graph_unit_estimate("fork", {"N": 2, "W": 32})
    three = est.graph_unit_estimate("fork", {"N": 3, "W": 32})
    assert three.luts > two.luts and three.ffs > two.ffs
    with pytest.raises(ConfigError, match="af_lut"):
        est.graph_unit_estimate("lut", {"LANES": 1, "IN_BITS": 8, "OUT_BITS": 8})
    with pytest.raises(ValueError, match="unknown graph units"):
        est.calibrate_graph(["fork", "bogus"])


def test_verilog_estimate_of_a_line_equals_the_design_estimate(tmp_path):
    """Parsing the top module's instances gives the same total as the layer rows (the
    path graph designs take), avg-pool windows included; a binary unit is refused."""
    from adderflow.hw import area_estimate as est

    m, _ = model(8, "avg", channels=4)
    design = generate(m, tmp_path / "rtl")
    top = (design.directory / "af_network.v").read_text()
    total, rows = est.verilog_estimate(top)
    assert total.values() == pytest.approx(design_estimate(design)[0].values())
    assert [r["module"] for r in rows[:3]] == ["af_window", "af_mvu", "af_requant"]
    assert len(rows) == 3 * len(design.layers)
    with pytest.raises(ConfigError, match="af_threshold"):
        est.unit_estimate("af_threshold", {"CH": 4})


GRAPH_BLOCKS = ("identity", "projection", "sum_pool", "squeeze_excite", "concat")


def _graph_model(block: str):
    import graph_networks as nets

    net = {
        "identity": lambda: nets.residual_identity(8, seed=3),
        "projection": lambda: nets.residual_projection(8, seed=4, pool=False),
        "sum_pool": lambda: nets.sum_pool_net(8, seed=1),
        "squeeze_excite": lambda: nets.squeeze_excite(8, seed=2),
        "concat": lambda: nets.concat_net(8, seed=3),
    }[block]()
    return build_qonnx(net)


@pytest.mark.parametrize("block", GRAPH_BLOCKS)
def test_graph_search_front_estimate_and_bound(tmp_path, block):
    """Residual blocks and the other graph units: every front point is undominated among
    all lane choices, its
    estimate is the generated design's without its FIFOs, and its bound is at least the
    graph handshake model's interval streaming images back to back."""
    from adderflow.hw import area_estimate as est
    from adderflow.hw.network import explore
    from adderflow.hw.network import graph as graphs
    from adderflow.hw.network.read import read_graph

    m = _graph_model(block)
    graph = graphs.with_forks(read_graph(m))
    points = explore.graph_points(graph)
    front = explore.graph_front(graph)
    assert len(front) >= 2
    for p in front:
        assert not any(q.interval <= p.interval and q.luts < p.luts for q in points)
    for p in (front[0], front[-1]):
        assert explore.graph_stream_interval(graph, p.lanes) <= p.interval
        chosen = explore.cheapest_lanes(graph, p.interval)
        assert chosen.luts == p.luts
        design = generate(m, tmp_path / str(p.interval), lanes=lambda g, q=p: (
            explore.port_lanes(g, q)))  # fmt: skip
        top = (design.directory / "af_network.v").read_text()
        _, rows = est.verilog_estimate(top)
        modules = {r["module"] for r in rows}
        assert {"identity": "af_fork", "sum_pool": "af_sumpool", "concat": "af_concat",
                "squeeze_excite": "af_mul"}.get(block, "af_add") in modules  # fmt: skip
        no_fifo = sum(r["luts"] for r in rows if r["module"] != "af_fifo")
        assert no_fifo == pytest.approx(p.luts, abs=len(rows))  # rows are rounded
        assert sum(ly["pe"] * ly["simd"] for ly in design.layers) == (
            explore.graph_lane_count(graph, p))  # fmt: skip
    with pytest.raises(ConfigError, match="no folding reaches 3 cycles"):
        explore.cheapest_lanes(graph, 3)


def test_graph_search_refuses_too_many_lane_choices(monkeypatch):
    """The search tries every lane choice; past the limit it names the count and the way
    out instead of searching for hours (a ResNet-20 has 51,840,000)."""
    from adderflow.hw.network import explore
    from adderflow.hw.network import graph as graphs
    from adderflow.hw.network.read import read_graph

    graph = graphs.with_forks(read_graph(_graph_model("identity")))
    every = explore.graph_choices(graph)
    assert every > 1
    monkeypatch.setattr(explore, "GRAPH_CHOICES_LIMIT", every - 1)
    with pytest.raises(ConfigError, match=rf"give {every:,} choices, more than .*--target-cycles"):
        explore.graph_points(graph)
    monkeypatch.setattr(explore, "GRAPH_CHOICES_LIMIT", every)
    assert 1 < len(explore.graph_points(graph)) <= every


@pytest.mark.parametrize("block", ["identity", "concat"])
def test_stepped_lanes_measure_the_design_as_generated(block):
    """``stepped_lanes`` returns a candidate whose bound meets the target and whose built
    design (FIFOs as ``plan_graph`` places and sizes them) streams within it."""
    from adderflow.hw.network import explore
    from adderflow.hw.network import graph as graphs
    from adderflow.hw.network.design import plan_graph
    from adderflow.hw.network.read import read_graph

    base = read_graph(_graph_model(block))
    graph = graphs.with_forks(base)
    target = explore.graph_front(graph)[-1].interval
    point, stepped = explore.stepped_lanes(graph, target)
    assert point.interval <= target and stepped <= target
    built, _, _ = plan_graph(base, lanes=lambda g: explore.port_lanes(g, point))
    n = explore.STREAM_IMAGES
    runs = [graphs.simulate(built, images=k, serial=False).cycles for k in (n - 1, n)]
    assert runs[1] - runs[0] == stepped
