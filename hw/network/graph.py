"""A stream network as a DAG of stages: layers (window → MVU → post unit), adds
(af_add → af_requant), forks (af_fork) and FIFOs (af_fifo).

``read.read_graph`` gives the stages in topological order, a stream read by two stages
appearing in both their inputs; ``with_forks`` gives every such stream an af_fork.
``choose_lanes`` picks the lanes of every stream (streams meeting at a join carry the same
lanes; the fewest ``Σ PE·SIMD`` whose every layer meets the target), and ``size_fifos``
puts an af_fifo on each fork output whose branch waits, its depth the peak occupancy in
the graph handshake model (``adderflow.hw.handshake.run_graph``): an unbounded FIFO, one
image from idle and several back to back as the bench's non-serial mode feeds them.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field, replace
from typing import Any

from adderflow.errors import AdderflowError, ConfigError
from adderflow.hw import handshake
from adderflow.hw.network import graph_units
from adderflow.hw.network.layer import Layer
from adderflow.hw.units.add import AddModel
from adderflow.hw.units.fifo import FIFO_FULL_RATE_DEPTH, FifoModel
from adderflow.hw.units.fork import ForkModel

Port = tuple[str, int]  # (stage name, output port)
# A FIFO whose peak (one image from idle) stays within this many words only passes its
# branch's beats on at full rate: its branch does not wait, so it gets no FIFO.
PASS_WORDS = FIFO_FULL_RATE_DEPTH
BACK_TO_BACK = 3  # images fed back to back when sizing FIFOs


@dataclass(frozen=True)
class AddSpec:
    """A residual add and the requantizer after it."""

    shifts: tuple[int, int]
    acc_bits: int  # the add's out_bits
    a_bits: int
    b_bits: int
    channels: int
    params: dict[str, Any] = field(repr=False)  # the requantizer's (as a layer's)
    post_node: str = ""


@dataclass
class Stage:
    name: str
    kind: str  # layer | add | fork | fifo
    inputs: list[Port | None]  # None: the network's input stream
    layer: Layer | None = None
    add: AddSpec | None = None
    spec: Any = None  # a graph_units kind's (sumpool, mul, concat, lut)
    frame: tuple[int, int, int] = (0, 0, 0)  # the output frame (C, H, W)
    bits: int = 0  # output code width
    n_out: int = 1
    depth: int = 0  # fifo
    why: str = ""  # fifo: how its depth was found
    lanes: int = 0  # output lanes, once chosen

    @property
    def out_beats(self) -> int:
        c, h, w = self.frame
        return h * w * (c // self.lanes)


@dataclass
class Graph:
    stages: list[Stage]
    frame: tuple[int, int, int]
    in_bits: int
    output: Port
    in_lanes: int = 0

    def stage(self, name: str) -> Stage:
        return next(s for s in self.stages if s.name == name)

    @property
    def layers(self) -> list[Layer]:
        return [s.layer for s in self.stages if s.layer is not None]

    @property
    def is_line(self) -> bool:
        """Layers only, each reading the one before it (the first: the input), the last
        giving one vector an image (a line ending on a frame is built as a graph, whose
        output stream carries a frame in raster order)."""
        stages = self.stages
        return (
            all(s.kind == "layer" for s in stages)
            and all(
                s.inputs == [None if i == 0 else (stages[i - 1].name, 0)]
                for i, s in enumerate(stages)
            )
            and self.output == (stages[-1].name, 0)
            and stages[-1].layer is not None
            and stages[-1].layer.vectors == 1
        )

    def readers(self, port: Port | None) -> list[tuple[Stage, int]]:
        return [(s, k) for s in self.stages for k, src in enumerate(s.inputs) if src == port]

    def lanes_of(self, port: Port | None) -> int:
        return self.in_lanes if port is None else self.stage(port[0]).lanes

    def bits_of(self, port: Port | None) -> int:
        return self.in_bits if port is None else self.stage(port[0]).bits


def with_forks(graph: Graph) -> Graph:
    """Every stream read more than once gets an af_fork right after its producer, one
    output a reader (in the readers' order)."""
    names = {s.name for s in graph.stages}
    forks: dict[Port | None, str] = {}
    for src in [None, *((s.name, 0) for s in graph.stages)]:
        readers = graph.readers(src)
        if len(readers) > 1:
            if src == graph.output:
                raise ConfigError(f"node '{src[0]}': the network's output is also read inside it")
            forks[src] = _fresh(f"{'input' if src is None else src[0]}_fork", names)
    used: dict[Port | None, int] = {}

    def take(src: Port | None) -> Port | None:
        if src not in forks:
            return src
        used[src] = used.get(src, 0) + 1
        return (forks[src], used[src] - 1)

    stages: list[Stage] = []

    def fork_after(src: Port | None) -> None:
        if src in forks:
            n = len(graph.readers(src))
            frame, bits = (
                (graph.frame, graph.in_bits)
                if src is None
                else (graph.stage(src[0]).frame, graph.stage(src[0]).bits)
            )
            stages.append(Stage(forks[src], "fork", [src], frame=frame, bits=bits, n_out=n))

    fork_after(None)
    for stage in graph.stages:
        stages.append(replace(stage, inputs=[take(s) for s in stage.inputs]))
        fork_after((stage.name, 0))
    return replace(graph, stages=stages)


def _fresh(name: str, names: set[str]) -> str:
    candidate, i = name, 1
    while candidate in names:
        i += 1
        candidate = f"{name}{i}"
    names.add(candidate)
    return candidate


# ---- folding: the lanes of every stream ------------------------------------------------

EXHAUSTIVE = 50_000  # lane choices searched exhaustively up to this many; beyond, greedily


def lane_classes(graph: Graph) -> dict[Port | None, Port | None]:
    """Each stream's class: streams that must carry equal lanes (a join's operands and its
    output; a fork's or FIFO's outputs and its input) share one representative."""
    parent: dict[Port | None, Port | None] = {None: None}

    def find(p: Port | None) -> Port | None:
        while parent[p] != p:
            p = parent[p]
        return p

    for stage in graph.stages:
        for port in range(stage.n_out):
            parent[(stage.name, port)] = (stage.name, port)
        if stage.kind in ("add", "fork", "fifo", *graph_units.KINDS):
            for src in stage.inputs:
                for port in range(stage.n_out):
                    parent[find((stage.name, port))] = find(src)
    return {p: find(p) for p in parent}


def _class_channels(graph: Graph, classes: dict) -> dict[Port | None, int]:
    """The most lanes each class can carry: they divide every stream's channels and, a beat
    carrying one group's channels (af_mvu GROUPS), a grouped layer's channels per group on
    its input and output streams."""
    channels: dict[Port | None, int] = {}
    for port, root in classes.items():
        c = graph.frame[0] if port is None else graph.stage(port[0]).frame[0]
        channels[root] = math.gcd(channels.get(root, 0), c)
    for s in graph.stages:
        if s.layer is not None:
            i, o = classes[s.inputs[0]], classes[(s.name, 0)]
            channels[i] = math.gcd(channels[i], s.layer.channels // s.layer.groups)
            channels[o] = math.gcd(channels[o], s.layer.out // s.layer.groups)
    return channels


def graph_target(graph: Graph) -> int:
    """As ``cycles.default_target``: a layer reading the input at its best rate with one
    input channel a beat, or the slowest other layer's fully parallel rate; a stream whose
    class joins other streams (a concatenation's, a gate's) at most the lanes the class
    allows (the gcd of its channels), a grouped layer's at most a group's channels."""
    classes = lane_classes(graph)
    channels = _class_channels(graph, classes)
    rates = [
        s.layer.fold_cycles(
            channels[classes[(s.name, 0)]],
            1 if s.inputs[0] is None else channels[classes[s.inputs[0]]],
        )
        for s in graph.stages
        if s.layer is not None
    ]
    return max(rates, default=1)  # no layer: any lanes meet any target


def choose_lanes(graph: Graph, target: int | None = None) -> dict[Port | None, int]:
    """Lanes per stream class: the fewest ``Σ PE·SIMD`` whose every layer takes at most
    ``target`` cycles (``choose_folding``'s rule), streams meeting at a join equal."""
    goal = graph_target(graph) if target is None else int(target)
    if goal < 1:
        raise ConfigError(f"target cycles per image must be positive, got {goal}")
    classes = lane_classes(graph)
    channels = _class_channels(graph, classes)
    roots = sorted(channels, key=lambda r: (r is not None, r or ("", 0)))
    terms = [
        (s.layer, roots.index(classes[s.inputs[0]]), roots.index(classes[(s.name, 0)]))
        for s in graph.stages
        if s.layer is not None
    ]
    options = [_divisors(channels[r]) for r in roots]

    def cost(lanes: tuple[int, ...]) -> int | None:
        total = 0
        for layer, i, o in terms:
            group_out, group_in = layer.out // layer.groups, layer.channels // layer.groups
            if group_out % lanes[o] or group_in % lanes[i]:
                return None  # a beat carries one group's channels (af_mvu GROUPS)
            if layer.fold_cycles(lanes[o], lanes[i]) > goal:
                return None
            total += lanes[o] * lanes[i]
        return total

    best: tuple[int, tuple[int, ...]] | None = None
    size = 1
    for opt in options:
        size *= len(opt)
    if size <= EXHAUSTIVE:
        for lanes in itertools.product(*options):
            c = cost(lanes)
            if c is not None and (best is None or c < best[0]):
                best = (c, lanes)
    else:
        best = _greedy(options, cost)
    if best is None:
        fastest = [(t[0], t[0].fold_cycles(options[t[2]][-1], options[t[1]][-1])) for t in terms]
        slow, need = max(fastest, key=lambda t: t[1])
        raise ConfigError(
            f"no folding reaches {goal} cycles per image; layer '{slow.name}' alone needs at "
            f"least {need}"
        )
    lanes = dict(zip(roots, best[1], strict=True))
    return {port: lanes[root] for port, root in classes.items()}


def _greedy(options: list[list[int]], cost) -> tuple[int, tuple[int, ...]] | None:
    """From the most parallel choice, lower one class's lanes at a time (the move that saves
    most) while every layer still meets the target."""
    lanes = tuple(opt[-1] for opt in options)
    current = cost(lanes)
    if current is None:
        return None
    while True:
        moves = []
        for i, opt in enumerate(options):
            for v in opt:
                if v < lanes[i]:
                    trial = (*lanes[:i], v, *lanes[i + 1 :])
                    c = cost(trial)
                    if c is not None and c < current:
                        moves.append((c, trial))
        if not moves:
            return current, lanes
        current, lanes = min(moves)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def set_lanes(graph: Graph, lanes: dict[Port | None, int]) -> Graph:
    """The graph with every stage's output lanes (and the input's) filled in."""
    stages = [replace(s, lanes=lanes[(s.name, 0)]) for s in graph.stages]
    return replace(graph, stages=stages, in_lanes=lanes[None])


# ---- the graph handshake model and the FIFOs -------------------------------------------


def in_beats(graph: Graph) -> int:
    c, h, w = graph.frame
    return h * w * (c // graph.in_lanes)


def _layer_units(layer: Layer, simd: int, pe: int, kind: str) -> handshake.Series:
    line = layer.line_window(simd) if kind == "line" else None
    window = handshake.LineWindow(line) if line else handshake.FrameWindow(layer.window(simd))
    pool = layer.pool_window(simd)
    before = []
    if pool is not None:  # a padded max pool: its window, then af_maxpool
        from adderflow.hw.units.maxpool import MaxPoolConfig

        before = [handshake.FrameWindow(pool), MaxPoolConfig.after(pool).model()]
    return handshake.Series(
        *before,
        window,
        handshake.Mvu(layer.k // simd, layer.out // (pe * layer.groups)),
        handshake.Post(),
    )


def model(graph: Graph, kinds: dict[str, str] | None = None) -> tuple[list, tuple[int, int]]:
    """The graph's units as ``handshake.GraphNode``\\ s (an add is its af_add and its
    af_requant) and the output ``(node, port)``; a FIFO of depth 0 is unbounded."""
    kinds = kinds or {}
    nodes: list[handshake.GraphNode] = []
    where: dict[Port | None, tuple[int, int] | None] = {None: None}
    for s in graph.stages:
        inputs = [where[src] for src in s.inputs]
        if s.kind == "layer":
            simd = graph.lanes_of(s.inputs[0])
            unit: Any = _layer_units(s.layer, simd, s.lanes, kinds.get(s.name, "frame"))  # type: ignore[arg-type]
        elif s.kind == "add":
            nodes.append(handshake.GraphNode(s.name, AddModel(), inputs))
            unit, inputs = handshake.Series(handshake.Post()), [(len(nodes) - 1, 0)]
        elif s.kind in graph_units.KINDS:
            *head, unit = graph_units.stage_models(s, graph_units.stage_units(s, s.lanes))
            for part in head:
                nodes.append(handshake.GraphNode(s.name, part, inputs))
                inputs = [(len(nodes) - 1, 0)]
        elif s.kind == "fork":
            unit = ForkModel(s.n_out)
        else:
            unit = FifoModel(s.depth or None)
        nodes.append(handshake.GraphNode(s.name, unit, inputs))
        for port in range(s.n_out):
            where[(s.name, port)] = (len(nodes) - 1, port)
    return nodes, where[graph.output]  # type: ignore[return-value]


def simulate(
    graph: Graph,
    kinds: dict[str, str] | None = None,
    images: int = 1,
    serial: bool = True,
    limit: int | None = None,
) -> handshake.GraphRun:
    """Step the graph's handshakes as the bench feeds it (``handshake.run_graph``);
    ``limit``: the cycles after which it gives up (default: far more than it needs)."""
    nodes, output = model(graph, kinds)
    out = graph.stage(graph.output[0])
    guess = sum(
        s.layer.fold_cycles(s.lanes, graph.lanes_of(s.inputs[0])) + s.layer.latency
        + s.layer.prepool_cycles(graph.lanes_of(s.inputs[0]))
        for s in graph.stages
        if s.layer is not None
    )
    if limit is None:
        limit = 4 * images * (guess + in_beats(graph) + 100 * len(graph.stages)) + 10_000
    return handshake.run_graph(nodes, output, in_beats(graph), out.out_beats, images, serial, limit)


def _origin(graph: Graph, port: Port | None) -> str:
    """The stage a stream comes from, looking through forks and FIFOs."""
    while port is not None and graph.stage(port[0]).kind in ("fork", "fifo"):
        port = graph.stage(port[0]).inputs[0]
    return "input" if port is None else port[0]


def _insert_fifos(graph: Graph, where: list[tuple[str, int]]) -> Graph:
    """An unbounded af_fifo on each given fork output, before its reader."""
    names = {s.name for s in graph.stages}
    stages: list[Stage] = []
    remap: dict[Port, Port] = {}
    for s in graph.stages:
        stages.append(replace(s, inputs=[remap.get(p, p) for p in s.inputs]))  # type: ignore[arg-type]
        for port in range(s.n_out):
            if (s.name, port) in where:
                reader, k = graph.readers((s.name, port))[0]
                fifo = _fresh(f"{reader.name}_fifo{k}", names)
                stages.append(
                    Stage(fifo, "fifo", [(s.name, port)], frame=s.frame, bits=s.bits, lanes=s.lanes)
                )
                remap[(s.name, port)] = (fifo, 0)
    return replace(graph, stages=stages)


def size_fifos(graph: Graph, kinds: dict[str, str] | None = None) -> tuple[Graph, int]:
    """FIFOs on the fork outputs whose branch waits, and the cycles of one image from idle.

    A fork output gets a FIFO when, with an unbounded one there, it holds more than
    ``PASS_WORDS`` words (one image from idle); a branch into a layer's window passes at
    full rate and gets none. Each FIFO's depth is its peak occupancy with unbounded FIFOs
    (``FifoModel.depth_needed``), one image from idle and ``BACK_TO_BACK`` images back to
    back as the bench's non-serial mode feeds them: the least depth at which it never
    refuses a beat its writer offers (one less stalls its fork, or deadlocks)."""
    forks = [(s.name, p) for s in graph.stages if s.kind == "fork" for p in range(s.n_out)]
    if not forks:
        return graph, simulate(graph, kinds).latencies[0]
    trial = _insert_fifos(graph, forks)
    peaks = simulate(trial, kinds).peaks
    held = {port: peaks[_fifo_on(trial, port)][0] for port in forks}
    sized, runs = _fifos_that_drain(graph, forks, held, kinds)
    stages = []
    for s in sized.stages:
        if s.kind == "fifo":
            (p1, c1), (pn, cn) = runs[0].peaks[s.name], runs[1].peaks[s.name]
            where = (
                f"cycle {c1} of one image from idle"
                if p1 >= pn
                else f"cycle {cn} of {BACK_TO_BACK} images back to back"
            )
            depth = max(p1, pn)
            s = replace(s, depth=depth, why=_why(sized, s, depth, where))
        stages.append(s)
    final = replace(sized, stages=stages)
    if not _same(final, runs, kinds):
        raise AdderflowError("graph model: the sized FIFOs change the schedule")
    return final, runs[0].latencies[0]


def _fifos_that_drain(
    graph: Graph, forks: list[Port], peaks: dict[Port, int], kinds: dict[str, str] | None
) -> tuple[Graph, tuple[handshake.GraphRun, handshake.GraphRun]]:
    """The graph with unbounded FIFOs on the fork outputs that wait (peak above
    ``PASS_WORDS``), and its runs (one image, images back to back). A fork output without a
    FIFO holds only its slice's two words, so a branch that waits for up to ``PASS_WORDS``
    (a join's operand while a window on the other branch loads a 3-beat frame) can
    deadlock its fork; then the next fork output by peak gets a FIFO too, until the graph
    drains (at worst every fork output has one, which is the trial that measured peaks).
    A join's operand goes first: a layer's window takes its beats as they come."""
    order = sorted(forks, key=lambda p: (graph.readers(p)[0][0].kind == "layer", -peaks[p]))
    n = sum(1 for p in forks if peaks[p] > PASS_WORDS)
    while True:
        sized = _insert_fifos(graph, order[:n])
        try:
            return sized, (
                simulate(sized, kinds),
                simulate(sized, kinds, BACK_TO_BACK, serial=False),
            )
        except handshake.Deadlock:
            if n == len(order):
                raise
            n += 1


def _same(graph: Graph, runs: tuple, kinds: dict[str, str] | None) -> bool:
    """The graph keeps the schedules ``runs`` measured (one image, images back to back)
    with no FIFO refusing a beat; a slower run is cut off as soon as it is slower."""
    for run, (images, serial) in zip(runs, ((1, True), (BACK_TO_BACK, False)), strict=True):
        try:
            got = simulate(graph, kinds, images, serial, limit=run.cycles + 2)
        except AdderflowError:
            return False
        if got.latencies != run.latencies or got.cycles != run.cycles or any(got.stalls.values()):
            return False
    return True


def _fifo_on(graph: Graph, port: Port) -> str:
    """The FIFO stage reading ``port``."""
    ((reader, _),) = graph.readers(port)
    return reader.name


def _why(graph: Graph, fifo: Stage, depth: int, where: str) -> str:
    """How the depth was found, for ``adderflow rtl`` and the top module's comment."""
    reader, k = graph.readers((fifo.name, 0))[0]
    branch = _origin(graph, fifo.inputs[0])
    others = [_origin(graph, p) for i, p in enumerate(reader.inputs) if i != k]
    waits = f"while '{others[0]}' has not delivered its beats" if others else "while busy"
    return (
        f"fifo for '{reader.name}' branch '{branch}': depth {depth} beats = peak occupancy "
        f"(at {where}, {waits}); one beat less stalls the fork"
    )
