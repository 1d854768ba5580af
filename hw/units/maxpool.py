"""af_maxpool: a max pool's reduce over the windows of an af_window with ``pad_min`` (the
padded max pool, and any kernel != stride), its reference and cycle formula."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adderflow.errors import ConfigError
from adderflow.fixed import check_bits
from adderflow.hw.units.lanes import pack_lanes
from adderflow.hw.units.window import WindowConfig


class MaxPoolModel:
    """af_maxpool's handshake (control state only, ``hw/handshake.py``'s chain protocol):
    ``in_ready`` is the slice's ``!full``; a taken beat of the last tap enters the slice."""

    __slots__ = ("beats", "count", "last", "skid")

    def __init__(self, beats: int, last: int) -> None:
        from adderflow.hw.handshake import Skid  # lazily: hw/handshake may import units

        self.skid = Skid()
        self.beats, self.last, self.count = beats, last, 0  # beats a pixel, the last tap's

    @property
    def in_ready(self) -> bool:
        return not self.skid.full

    @property
    def out_valid(self) -> bool:
        return self.skid.valid

    def step(self, in_valid: bool, out_ready: bool) -> None:
        take = in_valid and not self.skid.full
        self.skid.step(take and self.count >= self.beats - self.last, out_ready)
        if take:
            self.count = 0 if self.count == self.beats - 1 else self.count + 1


# A pixel's output beat leaves one cycle after its last tap's beat was taken (the slice).
MAXPOOL_LATENCY = 1
MAXPOOL_SOURCES = ("af_maxpool.v", "af_skid.v")


@dataclass(frozen=True)
class MaxPoolConfig:
    """One af_maxpool: ``taps`` beats of ``channels`` codes (``lanes`` a beat) in, their
    lane-wise maximum out, per output pixel."""

    bits: int
    channels: int
    taps: int
    lanes: int = 1

    def __post_init__(self) -> None:
        check_bits(self.bits, "max pool code width")
        if min(self.channels, self.taps, self.lanes) < 1:
            raise ConfigError(f"max pool sizes must be positive: {self}")
        if self.channels % self.lanes:
            raise ConfigError(
                f"max pool channels {self.channels} not a multiple of lanes {self.lanes}"
            )

    @classmethod
    def after(cls, window: WindowConfig) -> MaxPoolConfig:
        """The reduce behind ``window`` (which must pad with the minimum code)."""
        if not window.pad_min:
            raise ConfigError("a max pool's window must pad with the minimum code (pad_min)")
        kh, kw = window.kernel
        return cls(window.bits, window.channels, kh * kw, window.lanes)

    def parameters(self) -> dict[str, object]:
        return {"BITS": self.bits, "C": self.channels, "LANES": self.lanes, "TAPS": self.taps}

    def reduce(self, windows: np.ndarray) -> np.ndarray:
        """Reference: ``windows[..., TAPS*C]`` in ``(tap, c)`` order → ``[..., C]`` maxima."""
        w = np.asarray(windows, dtype=np.int64)
        if w.shape[-1] != self.taps * self.channels:
            raise ConfigError(
                f"max pool input has {w.shape[-1]} codes a pixel, expected "
                f"{self.taps}x{self.channels}"
            )
        return w.reshape(*w.shape[:-1], self.taps, self.channels).max(axis=-2)

    def input_words(self, windows: np.ndarray) -> list[int]:
        return pack_lanes(np.asarray(windows).reshape(-1, self.lanes), self.bits, what="pool input")

    def model(self) -> MaxPoolModel:
        return MaxPoolModel(self.taps * (self.channels // self.lanes), self.channels // self.lanes)

    def cycles(self, pixels: int = 1) -> int:
        """Input always valid, output ready: one beat a cycle, first input to last output."""
        return pixels * self.taps * (self.channels // self.lanes) + MAXPOOL_LATENCY
