"""af_fork: one stream duplicated onto N outputs, each behind its own register slice; its
config, cycle formula and handshake model."""

from __future__ import annotations

from dataclasses import dataclass

from adderflow.errors import ConfigError

# A beat taken at edge t is offered on every output from edge t+1 (one af_skid).
FORK_LATENCY = 1
FORK_SOURCES = ("af_fork.v", "af_skid.v")


def fork_cycles(beats: int) -> int:
    """Cycles af_fork takes for ``beats`` beats, input always valid and every output
    always ready: from the first input transfer to the last output transfer, inclusive."""
    if beats < 1:
        raise ConfigError(f"fork: {beats} beats; a stream has at least one")
    return beats + FORK_LATENCY


@dataclass(frozen=True)
class ForkConfig:
    """One af_fork instance: ``n`` outputs of the ``width``-bit input word."""

    n: int
    width: int

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ConfigError(f"fork: {self.n} outputs; it needs at least one")
        if self.width < 1:
            raise ConfigError(f"fork: data width {self.width}; it must be positive")

    def parameters(self) -> dict[str, object]:
        """HDL parameters of af_fork (render them with ``hdl_literal``)."""
        return {"N": self.n, "W": self.width}

    def cycles(self, beats: int) -> int:
        return fork_cycles(beats)


class ForkModel:
    """af_fork's handshake (control state only): ``n`` af_skid slices fed together.

    A graph node (``hw/handshake.py``'s protocol): the input is taken when every slice
    can take it (``in_ready`` = AND of the slices' registered ``!full``); output ``p`` is
    slice ``p``'s registered ``out_valid``.
    """

    __slots__ = ("n_in", "n_out", "slices")

    def __init__(self, n: int) -> None:
        # Imported here: hw/handshake.py may import this module (a graph node kind).
        from adderflow.hw.handshake import Skid

        if n < 1:
            raise ConfigError(f"fork: {n} outputs; it needs at least one")
        self.n_in, self.n_out = 1, n
        self.slices = [Skid() for _ in range(n)]

    def out_valid(self, port: int) -> bool:
        return self.slices[port].valid

    def in_ready(self, port: int, in_valid: list[bool]) -> bool:
        return all(not s.full for s in self.slices)

    def step(self, in_valid: list[bool], out_ready: list[bool]) -> None:
        take = in_valid[0] and self.in_ready(0, in_valid)
        for s, ready in zip(self.slices, out_ready, strict=True):
            s.step(take, ready)
