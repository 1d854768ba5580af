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

from adderflow.errors import AdderflowError
from adderflow.hw.units.linewin import LineWindowConfig
from adderflow.hw.units.window import WindowConfig


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
        h, s, p = config.height, config.stride, config.pad
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
