"""Design-space exploration: the folding that meets a throughput with the least estimated
area, and the LUT-against-throughput Pareto front of a network.

``choose_folding`` (``cycles``) minimises lanes ``Σ PE·SIMD``; lanes are not area: a lane
of a wide-accumulator layer costs more LUTs than one of a narrow layer, and a deep weight
ROM moves to block RAM where a shallow one stays logic. Here the cost of a layer at
``(PE, SIMD)`` is the fast estimate (``adderflow.hw.area_estimate.layer_estimate``: the
window, MVU and requantizer the generator would instantiate), and the search picks the
folding with the fewest estimated LUT sites whose interval bound meets the target.

Throughput: images streamed back to back leave one every *interval* cycles in steady
state. An ``af_window`` holds one frame (no double buffering): it loads image n+1 while
its producer emits it, then emits it while its MVU consumes it, and its producer stalls
meanwhile; so the interval is not the slowest layer's cycles (the report's roofline) but
up to the sum of two neighbours'. The search bounds it by
``max_i (cycles_{i-1} + cycles_i)``, a layer's cycles being its fold ``vectors·NF·SF``
plus the chain's latency and the input stream's ``H·W·C/SIMD₀`` beats standing before the
first layer; ``stream_interval`` steps the units' handshakes (``adderflow.hw.handshake``)
over images back to back and gives the interval itself, never above the bound
(tests/test_explore.py). Images per second at ``f`` MHz are ``f·10⁶ / interval``.

The search is exact for the bound: the only coupling between layers is the stream between
them (``simd[i+1] == pe[i]``, ``Folding``'s rule), so a dynamic program over each layer's
``(PE, SIMD)`` choice, keyed by the previous layer's, finds the cheapest folding, where
enumerating foldings would multiply the choices (a ResNet-8 has ~10⁸ foldings).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from adderflow.errors import ConfigError
from adderflow.hw.area_estimate import Estimate, check_calibrated, layer_estimate
from adderflow.hw.network.cycles import divisors, input_beats
from adderflow.hw.network.layer import Folding, Layer
from adderflow.hw.units.mvu import pe_acc_bits


@dataclass(frozen=True)
class Option:
    """One layer at one ``(PE, SIMD)``: its cycles per image and estimated area."""

    pe: int
    simd: int
    cycles: int  # fold + latency
    estimate: Estimate = field(compare=False)  # (unhashable; pe and simd name the option)


@dataclass(frozen=True)
class Point:
    """A folding, its steady-state interval and its estimated area."""

    folding: Folding
    interval: int  # the bound on the cycles between images in steady state
    estimate: Estimate

    @property
    def luts(self) -> float:
        return self.estimate.luts

    def images_per_second(self, clock_mhz: float) -> float:
        return clock_mhz * 1e6 / self.interval


def interval_for_fps(fps: float, clock_mhz: float) -> int:
    """The longest interval (cycles between images) that gives ``fps`` images a second."""
    if not fps > 0:
        raise ConfigError(f"target images per second must be positive, got {fps:g}")
    if not clock_mhz > 0:
        raise ConfigError(f"clock must be positive, got {clock_mhz:g} MHz")
    cycles = math.floor(clock_mhz * 1e6 / fps)
    if cycles < 1:
        raise ConfigError(
            f"{fps:g} images/s at {clock_mhz:g} MHz leaves under one cycle an image"
        )
    return cycles


def _layer_row(layer: Layer) -> tuple[dict, dict[str, int]]:
    """design.json's row for the layer (folding left out) and its requantizer widths, as
    ``design._units`` derives them (the accumulator width does not depend on the folding)."""
    acc = max(pe_acc_bits(layer.mode, layer.bits, layer.k), layer.acc_bits)
    row = {
        "name": layer.name, "mode": layer.mode, "post": layer.post, "pool_mode": layer.pool_mode,
        "bits": layer.bits, "acc_bits": acc, "k": layer.k, "out": layer.out, "pool": layer.pool,
    }  # fmt: skip
    check_calibrated([row])
    post = layer.post_unit.config(layer.params, acc, 1)
    return row, {"M_BITS": post.m_bits, "B_BITS": post.b_bits, "OUT_BITS": post.out_bits}


def layer_options(layers: list[Layer], dsp: bool = True) -> list[list[Option]]:
    """Every ``(PE, SIMD)`` of every layer (PE divides the outputs, SIMD the input
    channels) with its cycles and estimate. Refuses, by layer name, layers the estimate
    has no calibration for (binary layers, average-pool windows)."""
    table = []
    for layer in layers:
        row, widths = _layer_row(layer)
        frame_codes = layer.channels * layer.height * layer.width
        options = []
        # A grouped layer's PE divides a group's outputs, its SIMD a group's channels.
        for pe in divisors(layer.out // layer.groups):
            for simd in divisors(layer.channels // layer.groups):
                est = layer_estimate({**row, "pe": pe, "simd": simd}, widths, frame_codes, dsp)
                cycles = layer.fold_cycles(pe, simd) + layer.latency
                options.append(Option(pe, simd, cycles, est))
        table.append(options)
    return table


def cheapest(
    options: list[list[Option]], interval: int, input_cycles: dict[int, int]
) -> Point | None:
    """The least estimated LUT sites (then fewest lanes) whose interval bound is at most
    ``interval``; None when no folding reaches it. ``input_cycles``: the input stream's
    beats for each first-layer SIMD."""
    # key: the previous layer's option (None before the first layer) -> (luts, lanes, path)
    Best = tuple[float, int, tuple[Option, ...]]
    states: dict[Option | None, Best] = {None: (0.0, 0, ())}
    for layer in options:
        nxt: dict[Option | None, Best] = {}
        for o in layer:
            if o.cycles > interval:
                continue
            for prev, (luts, lanes, path) in states.items():
                before = input_cycles[o.simd] if prev is None else prev.cycles
                if (prev is not None and prev.pe != o.simd) or before + o.cycles > interval:
                    continue
                cand = (luts + o.estimate.luts, lanes + o.pe * o.simd, (*path, o))
                if o not in nxt or cand[:2] < nxt[o][:2]:
                    nxt[o] = cand
        if not nxt:
            return None
        states = nxt
    _, _, path = min(states.values(), key=lambda s: s[:2])
    return _point(path, input_cycles)


def _point(path: tuple[Option, ...], input_cycles: dict[int, int]) -> Point:
    total = Estimate()
    for o in path:
        total = total + o.estimate
    folding = Folding(tuple(o.pe for o in path), tuple(o.simd for o in path))
    cycles = [input_cycles[path[0].simd], *(o.cycles for o in path)]
    return Point(folding, max(a + b for a, b in zip(cycles, cycles[1:], strict=False)), total)


def _input_cycles(layers: list[Layer]) -> dict[int, int]:
    """The input stream's beats for each first-layer SIMD (the first layer's frame, before
    any pool fused into its window, is the network's input)."""
    first = layers[0]
    frame = (first.channels, first.height, first.width)
    return {simd: input_beats(frame, simd) for simd in divisors(first.channels)}


def cheapest_folding(layers: list[Layer], interval: int, dsp: bool = True) -> Point:
    """The folding with the least estimated area whose interval bound is at most
    ``interval`` cycles; names the layer that cannot be made fast enough when none is."""
    options = layer_options(layers, dsp)
    point = cheapest(options, interval, _input_cycles(layers))
    if point is None:
        floor = pareto_front(layers, dsp, options)[0].interval
        raise ConfigError(
            f"no folding reaches {interval} cycles per image in steady state; the fastest "
            f"folding's bound is {floor} ({_bottleneck(layers, options)})"
        )
    return point


def _bottleneck(layers: list[Layer], options: list[list[Option]]) -> str:
    fastest = [min(o.cycles for o in opts) for opts in options]
    slowest = max(range(len(layers)), key=fastest.__getitem__)
    return f"layer '{layers[slowest].name}' alone needs at least {fastest[slowest]}"


def pareto_front(
    layers: list[Layer], dsp: bool = True, options: list[list[Option]] | None = None
) -> list[Point]:
    """Every folding no other beats on both interval bound and estimated LUTs, fastest
    first.

    The bound is always the sum of two neighbours' cycles (or the input's and the first
    layer's), so solving for each such sum and dropping dominated points gives the front."""
    options = options or layer_options(layers, dsp)
    inputs = _input_cycles(layers)
    sums = {inputs[o.simd] + o.cycles for o in options[0]}
    for before, after in zip(options, options[1:], strict=False):
        sums |= {p.cycles + o.cycles for p in before for o in after if p.pe == o.simd}
    front: list[Point] = []
    for target in sorted(sums):
        point = cheapest(options, target, inputs)
        if point is not None and (not front or point.luts < front[-1].luts):
            front.append(point)
    return front


def stream_interval(layers: list[Layer], folding: Folding, images: int = 4) -> int:
    """Cycles between the last output beats of the last two of ``images`` images streamed
    back to back (input always valid, output always ready), by stepping every unit's
    handshake (``adderflow.hw.handshake``); frame windows. The first image starts from
    idle, so a few are needed before the pipeline repeats itself."""
    from adderflow.hw import handshake

    chain: list[handshake.Unit] = []
    for layer, pe, simd in zip(layers, folding.pe, folding.simd, strict=True):
        chain += [
            handshake.FrameWindow(layer.window(simd)),
            handshake.Mvu(layer.k // simd, layer.out // (pe * layer.groups)),
            handshake.Post(),
        ]
    beats = _input_cycles(layers)[folding.simd[0]] * images
    per_image = layers[-1].vectors * layers[-1].out // folding.pe[-1]
    ends = _stream(chain, beats, per_image, images)
    return ends[-1] - ends[-2]


def _stream(chain: list, in_beats: int, per_image: int, images: int) -> list[int]:
    """The cycle of each image's last output transfer (``handshake.chain_cycles``' rules:
    sample every ready and valid, then clock every unit)."""
    n_in = n_out = 0
    ends: list[int] = []
    last = len(chain) - 1
    cycle = 0
    while len(ends) < images:
        ready = [u.in_ready for u in chain]
        valid = [u.out_valid for u in chain]
        source = n_in < in_beats
        if source and ready[0]:
            n_in += 1
        if valid[-1]:
            n_out += 1
            if n_out % per_image == 0:
                ends.append(cycle)
        for i, unit in enumerate(chain):
            unit.step(source if i == 0 else valid[i - 1], True if i == last else ready[i + 1])
        cycle += 1
    return ends
# ---- graphs (forks and joins) -----------------------------------------------------------


@dataclass(frozen=True)
class GraphPoint:
    """Lanes of every stream class, the interval bound and the estimated area (forks, adds
    and their requantizers included; FIFOs not: their depths come from the handshake model
    after the lanes are chosen, and their bits barely depend on the lanes)."""

    lanes: dict  # stream class (graph.lane_classes' representative) -> lanes
    interval: int
    estimate: Estimate

    @property
    def luts(self) -> float:
        return self.estimate.luts

    def images_per_second(self, clock_mhz: float) -> float:
        return clock_mhz * 1e6 / self.interval


def _layer_table(layer: Layer, dsp: bool) -> dict[tuple[int, int], Option]:
    return {(o.pe, o.simd): o for o in layer_options([layer], dsp)[0]}


def _graph_stage_costs(graph, classes, channels: dict, dsp: bool):
    """Per stage a function of the class lanes: (cycles or None, Estimate)."""
    from adderflow.hw.area_estimate import graph_unit_estimate, requant_estimate
    from adderflow.hw.network import graph_units
    from adderflow.hw.units.add import AddConfig
    from adderflow.hw.units.fork import ForkConfig
    from adderflow.hw.units.requant import RequantUnit

    rows = []
    for s in graph.stages:
        out = classes[(s.name, 0)]
        if s.kind == "layer":
            rows.append((s, "layer", classes[s.inputs[0]], out, _layer_table(s.layer, dsp)))
        elif s.kind == "add":
            a = s.add
            table = {}
            for lanes in divisors(channels[out]):
                add = AddConfig(lanes, a.a_bits, a.b_bits, *a.shifts, a.acc_bits)
                rq = RequantUnit.config(a.params, a.acc_bits, lanes)
                table[lanes] = graph_unit_estimate("add", add.parameters(), dsp) + requant_estimate(
                    lanes, a.channels, a.acc_bits, rq.m_bits, rq.b_bits, rq.out_bits, dsp
                )
            rows.append((s, "add", out, out, table))
        elif s.kind == "fork":
            table = {
                lanes: graph_unit_estimate(
                    "fork", ForkConfig(s.n_out, lanes * s.bits).parameters(), dsp
                )
                for lanes in divisors(channels[out])
            }
            rows.append((s, "fork", out, out, table))
        elif s.kind in graph_units.KINDS:  # sumpool, mul, concat (af_lut is refused)
            table = {
                lanes: _units_estimate(graph_units.stage_units(s, lanes), dsp)
                for lanes in divisors(channels[out])
            }
            rows.append((s, "unit", out, out, table))
        elif s.kind != "fifo":  # FIFOs are sized after the lanes; anything else is unknown
            raise ConfigError(f"stage '{s.name}' ({s.kind}): the folding search has no cost for it")
    return rows


# The module of each graph unit config (``graph_units.stage_units``).
CONFIG_MODULES = {
    "SumPoolConfig": "af_sumpool", "MulConfig": "af_mul", "ConcatConfig": "af_concat",
    "RequantConfig": "af_requant", "LutConfig": "af_lut",
}  # fmt: skip


def _units_estimate(configs: tuple, dsp: bool) -> Estimate:
    from adderflow.hw.area_estimate import unit_estimate

    total = Estimate()
    for config in configs:
        params = {k: v for k, v in config.parameters().items() if not isinstance(v, str)}
        total = total + unit_estimate(CONFIG_MODULES[type(config).__name__], params, dsp)
    return total


# Lane assignments ``graph_points`` tries at most: about a minute on a loaded 2-core machine
# (a ResNet-8 has 14,400; a ResNet-20's 14 classes have 51,840,000, hours of stepping).
GRAPH_CHOICES_LIMIT = 250_000


def graph_choices(graph) -> int:
    """How many lane assignments ``graph_points`` tries: per stream class, the divisors of
    its channels."""
    from adderflow.hw.network import graph as graphs

    classes = graphs.lane_classes(graph)
    channels = graphs._class_channels(graph, classes)
    return math.prod(len(divisors(channels[r])) for r in dict.fromkeys(classes.values()))


def graph_points(graph, dsp: bool = True) -> list[GraphPoint]:
    """Every lane assignment of ``graph`` (a ``graph.with_forks`` graph) with its interval
    bound and estimate: all are tried, so a graph with more than ``GRAPH_CHOICES_LIMIT``
    is refused (a ResNet-8 has 8 classes, 14,400 choices) rather than searched for hours."""
    from adderflow.hw.network import graph as graphs

    classes = graphs.lane_classes(graph)
    roots = list(dict.fromkeys(classes.values()))
    channels = graphs._class_channels(graph, classes)  # lanes divide every stream's channels
    choices = graph_choices(graph)
    if choices > GRAPH_CHOICES_LIMIT:
        raise ConfigError(
            f"the folding search tries every lane choice: this network's {len(roots)} stream "
            f"classes (lanes equal along joins) give {choices:,} choices, more than "
            f"{GRAPH_CHOICES_LIMIT:,}; give --target-cycles instead (graph.choose_lanes)"
        )
    rows = _graph_stage_costs(graph, classes, channels, dsp)
    c, h, w = graph.frame
    points = []
    for values in itertools.product(*(divisors(channels[r]) for r in roots)):
        lanes = dict(zip(roots, values, strict=True))
        total, cycles, ok = Estimate(), {}, True
        for s, kind, i, o, table in rows:
            if kind == "layer":
                option = table.get((lanes[o], lanes[i]))
                if option is None:
                    ok = False
                    break
                total = total + option.estimate
                cycles[s.name] = option.cycles
            else:
                total = total + table[lanes[o]]
        if not ok:
            continue
        bound = _graph_bound(graph, cycles, h * w * c // lanes[classes[None]])
        points.append(GraphPoint(lanes, bound, total))
    return points


def _graph_bound(graph, cycles: dict[str, int], input_cycles: int) -> int:
    """``max`` over layers of (its producer's cycles + its own): a layer's producer is the
    layer (or the input) its stream comes from through forks and FIFOs; an add streams at
    the pace of its slower operand."""
    pace: dict = {None: input_cycles}
    bound = 0
    for s in graph.stages:
        before = max(pace[p] for p in s.inputs)
        if s.kind == "layer":
            bound = max(bound, before + cycles[s.name])
            pace[(s.name, 0)] = cycles[s.name]
        else:
            for port in range(s.n_out):
                pace[(s.name, port)] = before
    return bound


def graph_front(graph, dsp: bool = True) -> list[GraphPoint]:
    """The Pareto front of ``graph_points``: fastest first, each cheaper than the last."""
    front: list[GraphPoint] = []
    for point in sorted(graph_points(graph, dsp), key=lambda p: (p.interval, p.luts)):
        if not front or point.luts < front[-1].luts:
            front.append(point)
    return front


STREAM_IMAGES = 8  # images streamed to measure a graph's interval (forks settle by ~4)


def graph_stream_interval(graph, lanes: dict, images: int = STREAM_IMAGES) -> int:
    """The steady interval of the design as ``generate`` builds it at ``lanes``: FIFOs
    placed and sized by ``graph.size_fifos``, ``images`` streamed back to back, the last
    image's extra cycles. A fork branch without a FIFO may stall its fork once images
    stream, so this can exceed the bound (``_graph_bound``)."""
    from adderflow.hw.network import graph as graphs

    classes = graphs.lane_classes(graph)
    sized = graphs.set_lanes(graph, {port: lanes[root] for port, root in classes.items()})
    built, _ = graphs.size_fifos(sized)
    runs = [graphs.simulate(built, images=n, serial=False).cycles for n in (images - 1, images)]
    return runs[1] - runs[0]


def stepped_lanes(graph, interval: int, tries: int = 4, dsp: bool = True):
    """The cheapest lanes whose built design *steps* at most ``interval`` cycles an image
    streaming (``graph_stream_interval``), trying the ``tries`` cheapest whose bound meets
    it; ``(point, stepped)``. Refuses, naming the gap, when none of them does."""
    points = [p for p in graph_points(graph, dsp) if p.interval <= interval]
    if not points:
        cheapest_lanes(graph, interval, dsp)  # raises, naming the fastest bound
    seen = []
    for point in sorted(points, key=lambda p: (p.luts, p.interval))[:tries]:
        stepped = graph_stream_interval(graph, point.lanes)
        if stepped <= interval:
            return point, stepped
        seen.append(stepped)
    raise ConfigError(
        f"the {len(seen)} cheapest lane choices whose bound meets {interval} cycles per "
        f"image step {min(seen)}..{max(seen)} cycles streaming (a fork branch without a "
        "FIFO stalls its fork); ask for a lower --target-fps or use --target-cycles"
    )


def cheapest_lanes(graph, interval: int, dsp: bool = True) -> GraphPoint:
    """The graph's lanes with the least estimated area whose bound is at most ``interval``
    cycles (``graph``: a ``graph.with_forks`` graph)."""
    points = graph_points(graph, dsp)
    meeting = [p for p in points if p.interval <= interval]
    if not meeting:
        fastest = min(p.interval for p in points)
        raise ConfigError(
            f"no folding reaches {interval} cycles per image in steady state; the fastest "
            f"lanes' bound is {fastest}"
        )
    return min(meeting, key=lambda p: (p.luts, p.interval))


def port_lanes(graph, point: GraphPoint) -> dict:
    """``{port: lanes}`` for every stream (as ``graph.choose_lanes`` returns)."""
    from adderflow.hw.network import graph as graphs

    return {port: point.lanes[root] for port, root in graphs.lane_classes(graph).items()}


def graph_lane_count(graph, point: GraphPoint) -> int:
    """``Σ PE·SIMD`` over the graph's layers at ``point``'s lanes."""
    from adderflow.hw.network import graph as graphs

    classes = graphs.lane_classes(graph)
    return sum(
        point.lanes[classes[(s.name, 0)]] * point.lanes[classes[s.inputs[0]]]
        for s in graph.stages
        if s.layer is not None
    )
