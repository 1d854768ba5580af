"""af_fifo: a first-in first-out buffer (block RAM when deep), registered on both sides;
its config, cycle formula and handshake model, which also sizes a FIFO for a schedule."""

from __future__ import annotations

from dataclasses import dataclass

from adderflow.errors import ConfigError

# A word written at edge t is read into the output register at t+1 and offered from then.
FIFO_LATENCY = 2
FIFO_SOURCES = ("af_fifo.v",)
# The shallowest FIFO that passes a word every cycle: in_ready is a register, so in the
# steady state it must stay high with one word in memory and one in the output register.
FIFO_FULL_RATE_DEPTH = 3


def fifo_cycles(beats: int, depth: int) -> int:
    """Cycles af_fifo takes for ``beats`` beats, input always valid and output always
    ready: from the first input transfer to the last output transfer, inclusive.

    ``beats + 2`` from depth 3 on; a shallower FIFO holds back its input (depth 1: a word
    every 3 cycles; depth 2: two words every 3 cycles)."""
    if beats < 1:
        raise ConfigError(f"fifo: {beats} beats; a stream has at least one")
    if depth < 1:
        raise ConfigError(f"fifo: depth {depth}; it must be positive")
    if depth == 1:
        return 3 * beats
    if depth == 2:
        return beats + FIFO_LATENCY + (beats - 1) // 2
    return beats + FIFO_LATENCY


@dataclass(frozen=True)
class FifoConfig:
    """One af_fifo instance: ``depth`` words of ``width`` bits (the output register's
    word counted)."""

    depth: int
    width: int

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ConfigError(f"fifo: depth {self.depth}; it must be positive")
        if self.width < 1:
            raise ConfigError(f"fifo: data width {self.width}; it must be positive")

    def parameters(self) -> dict[str, object]:
        """HDL parameters of af_fifo (render them with ``hdl_literal``)."""
        return {"DEPTH": self.depth, "W": self.width}

    def cycles(self, beats: int) -> int:
        return fifo_cycles(beats, self.depth)


class FifoModel:
    """af_fifo's handshake (control state only); ``depth=None`` is an unbounded FIFO.

    A graph node (``hw/handshake.py``'s protocol). State as in the RTL: ``stored`` words
    in memory, the output register's ``valid``, and the registered ``full``. ``count`` is
    the words held (memory and output register). ``depth_needed`` is the smallest DEPTH
    that would have taken every write this model took: one more than ``count`` in the
    cycle of each write (in_ready is registered, so a FIFO holding DEPTH words refuses a
    word even in a cycle where one leaves). Run unbounded, then build
    ``af_fifo #(.DEPTH(depth_needed))``: its handshakes are the unbounded model's, cycle
    for cycle (checked by tests/rtl/test_cocotb_fifo.py).
    """

    __slots__ = ("depth", "depth_needed", "full", "n_in", "n_out", "stored", "valid")

    def __init__(self, depth: int | None = None) -> None:
        if depth is not None and depth < 1:
            raise ConfigError(f"fifo: depth {depth}; it must be positive")
        self.n_in = self.n_out = 1
        self.depth = depth
        self.stored = 0
        self.valid = self.full = False
        self.depth_needed = 1

    @property
    def count(self) -> int:
        return self.stored + self.valid

    def out_valid(self, port: int) -> bool:
        return self.valid

    def in_ready(self, port: int, in_valid: list[bool]) -> bool:
        return not self.full

    def step(self, in_valid: list[bool], out_ready: list[bool]) -> None:
        write = in_valid[0] and not self.full
        if write:
            self.depth_needed = max(self.depth_needed, self.count + 1)
        read = self.stored > 0 and (not self.valid or out_ready[0])
        self.stored += int(write) - int(read)
        self.valid = read or (self.valid and not out_ready[0])
        self.full = self.depth is not None and self.count >= self.depth
