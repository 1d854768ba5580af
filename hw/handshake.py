"""Cycle-stepped model of the network units' handshakes: the exact cycles of a chain.

The closed-form network cycle model (``network.network_cycles``) holds only while every
window stores a whole frame. With line-buffered windows (``af_linewin``) a layer overlaps
its producer and its consumer, so its timing depends on both: a window waits for its
producer's rows and a slow MVU downstream holds back its emission (and so its ring, and
so its input). This module steps the control state of every unit, one clock edge at a
time, as docs/rtl.md documents it, data left out:

- ``af_skid``: two entries, ``in_ready = !full`` and ``out_valid`` registered; a free (or
  emptied) output register refills from the parked word first, else from the input; a
  stalled output parks one word.
- ``af_mvu``: the pipeline advances while its slice has room (``en = !full``); fold 0
  takes ``SF`` input beats (``in_ready = en && nf == 0``), folds ``1..NF−1`` replay them
  with ``in_ready`` low; issue → accumulate → slice, a finished PE group at the
  accumulate stage after a fold's last beat.
- ``af_requant`` / ``af_threshold``: ``in_ready = en``, two valid registers, then the slice
  (latency 3).
- ``af_window``: store-and-forward; ``in_ready`` high while loading a frame's
  ``in_beats``, then ``out_beats`` window beats into its slice.
- ``af_linewin``: the row rules (``D`` rows received minus ``rel``; ``in_ready = D < R``
  registered; an output row is offered while ``D ≥ nrows``; its last beat lowers ``D`` by
  ``rel``'s advance).

``chain_cycles`` runs one image with the input always valid and the output always ready
and returns the cycles from its first input transfer to its last output transfer,
inclusive: the measured figure of the bulk bench (``af_network_tb``, serial). It is a
model of the schedules, checked against the RTL by tests/test_rtl_network.py, and it
reduces to the closed forms where they hold (``tests/rtl/test_rtlgen.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from adderflow.errors import AdderflowError
from adderflow.hw.units.fifo import FifoModel
from adderflow.hw.units.linewin import LineWindowConfig
from adderflow.hw.units.window import WindowConfig


class Deadlock(AdderflowError):
    """The handshake model's images did not all leave within its cycle limit."""


class Skid:
    """``af_skid``: a two-entry register slice."""

    __slots__ = ("full", "valid")

    def __init__(self) -> None:
        self.valid = False
        self.full = False

    def step(self, in_valid: bool, out_ready: bool) -> None:
        if not self.valid or out_ready:
            if self.full:  # the parked word moves to the output register
                self.valid, self.full = True, False
            else:
                self.valid = in_valid
        elif in_valid and not self.full:
            self.full = True


class Unit:
    """A unit with a registered ``in_ready`` and its output slice."""

    __slots__ = ("skid",)

    def __init__(self) -> None:
        self.skid = Skid()

    @property
    def in_ready(self) -> bool:
        raise NotImplementedError

    @property
    def out_valid(self) -> bool:
        return self.skid.valid

    def step(self, in_valid: bool, out_ready: bool) -> None:
        raise NotImplementedError


class Mvu(Unit):
    """``af_mvu``: ``SF`` input beats a vector, ``NF`` folds, the last ``NF − 1`` replayed."""

    __slots__ = ("done2", "last1", "nf", "nfold", "sf", "sfold", "v1")

    def __init__(self, sfold: int, nfold: int) -> None:
        super().__init__()
        self.sfold, self.nfold = sfold, nfold
        self.sf = self.nf = 0
        self.v1 = self.last1 = self.done2 = False

    @property
    def in_ready(self) -> bool:
        return not self.skid.full and self.nf == 0

    def step(self, in_valid: bool, out_ready: bool) -> None:
        en = not self.skid.full
        issue = en and (self.nf != 0 or in_valid)
        self.skid.step(self.done2, out_ready)
        if en:
            self.done2 = self.v1 and self.last1
            self.v1 = issue
            self.last1 = self.sf == self.sfold - 1
        if issue:
            self.sf += 1
            if self.sf == self.sfold:
                self.sf = 0
                self.nf = 0 if self.nf == self.nfold - 1 else self.nf + 1


class Post(Unit):
    """``af_requant`` or ``af_threshold``: one beat a cycle, operand and result registers."""

    __slots__ = ("v1", "v2")

    def __init__(self) -> None:
        super().__init__()
        self.v1 = self.v2 = False

    @property
    def in_ready(self) -> bool:
        return not self.skid.full

    def step(self, in_valid: bool, out_ready: bool) -> None:
        en = not self.skid.full
        self.skid.step(self.v2, out_ready)
        if en:
            self.v2, self.v1 = self.v1, in_valid


class FrameWindow(Unit):
    """``af_window``: load a frame (``in_beats``), then emit its windows (``out_beats``)."""

    __slots__ = ("count", "in_beats", "loading", "out_beats")

    def __init__(self, config: WindowConfig) -> None:
        super().__init__()
        self.in_beats, self.out_beats = config.in_beats, config.out_beats
        self.loading, self.count = True, 0

    @property
    def in_ready(self) -> bool:
        return self.loading

    def step(self, in_valid: bool, out_ready: bool) -> None:
        emit = not self.loading and not self.skid.full
        self.skid.step(not self.loading, out_ready)
        if self.loading and in_valid:
            self.count += 1
            if self.count == self.in_beats:
                self.count, self.loading = 0, False
        elif emit:
            self.count += 1
            if self.count == self.out_beats:
                self.count, self.loading = 0, True


class LineWindow(Unit):
    """``af_linewin``: a ring of ``R`` rows, rows taken and emitted by its row rules."""

    __slots__ = ("d", "in_ok", "n_in", "n_out", "nb", "nrows", "oy", "ring", "row_beats", "steps")

    def __init__(self, config: LineWindowConfig) -> None:
        super().__init__()
        (oh, ow), (kh, kw) = config.out_size, config.kernel
        h, s, p = config.height, config.strides[0], config.pads[0]
        cg = config.channels // config.lanes
        self.row_beats, self.nb, self.ring = config.width * cg, ow * kh * kw * cg, config.ring_rows
        los = [oy * s - p for oy in range(oh)]
        self.nrows = [min(h, lo + kh) - max(0, lo) for lo in los]
        # rel's advance at an output row's last beat (the frame's last: to the next frame).
        self.steps = [max(0, lo + s) - max(0, lo) for lo in los]
        self.steps[-1] = h - max(0, los[-1])
        self.d, self.in_ok, self.n_in, self.n_out, self.oy = 0, True, 0, 0, 0

    @property
    def in_ready(self) -> bool:
        return self.in_ok

    def step(self, in_valid: bool, out_ready: bool) -> None:
        row_ok = self.d >= self.nrows[self.oy]
        emit = row_ok and not self.skid.full
        self.skid.step(row_ok, out_ready)
        d = self.d
        if self.in_ok and in_valid:
            self.n_in += 1
            if self.n_in == self.row_beats:
                self.n_in, d = 0, d + 1
        if emit:
            self.n_out += 1
            if self.n_out == self.nb:
                d -= self.steps[self.oy]
                self.n_out = 0
                self.oy = 0 if self.oy == len(self.nrows) - 1 else self.oy + 1
        self.d, self.in_ok = d, d < self.ring


def chain_cycles(units: list[Unit], in_beats: int, out_beats: int, limit: int) -> int:
    """One image through ``units`` (reset state, input always valid, output always ready):
    cycles from the first input transfer to the last output transfer, both included.

    Raises when the last output has not left after ``limit`` cycles (a deadlock)."""
    n_in = n_out = 0
    first = last = -1
    last_unit = len(units) - 1
    for cycle in range(limit):
        # Every in_ready and out_valid comes from registers: sample all, then clock all.
        ready = [u.in_ready for u in units]
        valid = [u.out_valid for u in units]
        source = n_in < in_beats
        if source and ready[0]:
            if n_in == 0:
                first = cycle
            n_in += 1
        if valid[-1]:
            n_out += 1
            if n_out == out_beats:
                last = cycle
                break
        for i, unit in enumerate(units):
            unit.step(source if i == 0 else valid[i - 1], True if i == last_unit else ready[i + 1])
    if last < 0:
        raise AdderflowError(f"handshake model: no complete image after {limit} cycles")
    return last - first + 1


# ---------------------------------------------------------------------------------------
# Graphs: units with several ports (forks, FIFOs, joins), stepped together.


class GraphUnit(Protocol):
    """A unit of a stream graph, control state only (docs/rtl.md, j2 design).

    A transfer on input port ``i`` in a cycle iff ``in_valid[i]`` and
    ``in_ready(i, in_valid)``; every ``out_valid`` and ``in_ready`` comes from registers
    (a join's ``in_ready`` may also read the other inputs' valid), so a graph is stepped by
    sampling every valid, then every ready, then clocking every unit."""

    n_in: int
    n_out: int

    def out_valid(self, port: int) -> bool: ...

    def in_ready(self, port: int, in_valid: list[bool]) -> bool: ...

    def step(self, in_valid: list[bool], out_ready: list[bool]) -> None: ...


class Series:
    """Single-port ``Unit``\\ s in a line as one graph unit (a layer's window → MVU →
    post unit, or one unit alone: the wrapper of the existing single-port units)."""

    n_in = n_out = 1
    __slots__ = ("units",)

    def __init__(self, *units: Unit) -> None:
        self.units = units

    def out_valid(self, port: int) -> bool:
        return self.units[-1].skid.valid

    def in_ready(self, port: int, in_valid: list[bool]) -> bool:
        return self.units[0].in_ready

    def step(self, in_valid: list[bool], out_ready: list[bool]) -> None:
        units = self.units
        if len(units) == 1:
            units[0].step(in_valid[0], out_ready[0])
            return
        ready = [u.in_ready for u in units[1:]]
        valid = [u.skid.valid for u in units[:-1]]
        units[0].step(in_valid[0], ready[0])
        for i in range(1, len(units) - 1):
            units[i].step(valid[i - 1], ready[i])
        units[-1].step(valid[-1], out_ready[0])


@dataclass
class GraphNode:
    """One unit of a graph and where each of its inputs comes from (``None``: the
    network's input; else ``(node index, output port)``, an earlier node)."""

    name: str
    unit: GraphUnit
    inputs: list[tuple[int, int] | None]


@dataclass
class GraphRun:
    """What ``run_graph`` measured: per image the bench's latency figure (first input
    transfer to last output transfer of the image, inclusive), the total cycles, and per
    FIFO node the words it had to hold (``units.fifo.FifoModel.depth_needed``: its peak
    occupancy) with the cycle it first did, counted from the first input transfer, and
    the cycles its writer offered a beat it could not take (``stalls``)."""

    latencies: list[int]
    cycles: int
    peaks: dict[str, tuple[int, int]]
    stalls: dict[str, int]


def _cells(nodes: list[GraphNode]) -> tuple[list, list, int, dict]:
    """The graph flattened for stepping: every ``Series`` into its single-port units.

    Returns the single-port cells ``[unit, src, out]`` and the multi-port ones
    ``[unit, srcs, outs, slots]`` (port indices into one valid array, the network's input
    last), the port count, and each node output's port index."""
    port: dict[tuple[int, int], int] = {}
    singles: list = []
    multis: list = []
    count = 0
    pending: list = []  # (cell list, index in cell, node input) resolved after numbering
    for j, node in enumerate(nodes):
        unit = node.unit
        if isinstance(unit, Series):
            for i, u in enumerate(unit.units):
                cell = [u, None if i == 0 else count - 1, count]
                if i == 0:
                    pending.append((cell, 1, node.inputs[0]))
                singles.append(cell)
                count += 1
            port[(j, 0)] = count - 1
        else:
            outs = list(range(count, count + unit.n_out))
            count += unit.n_out
            cell = [unit, [None] * unit.n_in, outs]
            for k, src in enumerate(node.inputs):
                pending.append((cell[1], k, src))
            multis.append(cell)
            for p, o in enumerate(outs):
                port[(j, p)] = o
    for target, index, src in pending:
        target[index] = count if src is None else port[src]
    return singles, multis, count, port


def run_graph(
    nodes: list[GraphNode],
    output: tuple[int, int],
    in_beats: int,
    out_beats: int,
    images: int = 1,
    serial: bool = True,
    limit: int = 10**7,
) -> GraphRun:
    """Step a graph as ``af_network_tb`` drives the network: ``images`` images of
    ``in_beats`` input beats (``serial``: an image only after the previous one has left;
    else back to back), the output always ready. Raises when the images have not all left
    after ``limit`` cycles (a deadlock or a stall that long)."""
    singles, multis, count, port = _cells(nodes)
    readers = [s[1] for s in singles] + [x for m in multis for x in m[1]]
    if len(set(readers)) != len(readers):
        raise AdderflowError("graph model: a stream read twice (no fork)")
    # ready[p]: whether the reader of port p takes it (the output: always)
    ready = [True] * (count + 1)
    valid = [False] * (count + 1)
    single_cells = [(u, src, out) for u, src, out in singles]
    multi_cells = [(u, srcs, outs, range(len(srcs))) for u, srcs, outs in multis]
    fifos = [(m[0], m[1][0], i) for i, m in enumerate(multis) if isinstance(m[0], FifoModel)]
    names = {id(n.unit): n.name for n in nodes}
    peaks = {names[id(f)]: (0, 0) for f, _, _ in fifos}
    stalls = {names[id(f)]: 0 for f, _, _ in fifos}
    out_port = port[output]
    total_in, n_in, n_out, start, first, latencies = images * in_beats, 0, 0, 0, -1, []
    for cycle in range(limit):
        for u, _, out in single_cells:
            valid[out] = u.skid.valid
        for u, _, outs, _ in multi_cells:
            for p, o in enumerate(outs):
                valid[o] = u.out_valid(p)
        source = n_in < total_in and (not serial or n_in < (n_out // out_beats + 1) * in_beats)
        valid[count] = source
        for u, src, _ in single_cells:
            ready[src] = u.in_ready
        for u, srcs, _, ports in multi_cells:
            iv = [valid[x] for x in srcs]
            for k in ports:
                ready[srcs[k]] = u.in_ready(k, iv)
        ready[out_port] = True
        for f, src, _ in fifos:
            if valid[src] and not ready[src]:
                stalls[names[id(f)]] += 1
        # The bench's order: an image's latency reads ``start`` before this cycle's
        # first input transfer (if any) moves it.
        if valid[out_port]:
            n_out += 1
            if n_out % out_beats == 0:
                latencies.append(cycle - start + 1)
                if n_out == images * out_beats:
                    peaks = {n: (p, c - first) for n, (p, c) in peaks.items()}
                    return GraphRun(latencies, cycle - first + 1, peaks, stalls)
        if source and ready[count]:
            if n_in % in_beats == 0:
                start = cycle
                if first < 0:
                    first = cycle
            n_in += 1
        for u, src, out in single_cells:
            u.step(valid[src], ready[out])
        for u, srcs, outs, _ in multi_cells:
            u.step([valid[x] for x in srcs], [ready[o] for o in outs])
        for f, _, _ in fifos:
            need = f.depth_needed
            name = names[id(f)]
            if need > peaks[name][0]:
                peaks[name] = (need, cycle)
    raise Deadlock(
        f"handshake model: {n_out // out_beats} of {images} images left after {limit} cycles "
        "(a deadlock: a FIFO too shallow, or a unit that never drains)"
    )
