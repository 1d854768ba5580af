"""af_maxpool: a max pool's reduce over the windows of an af_window with ``pad_min`` (the
padded max pool, and any kernel != stride), its reference and cycle formula."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adderflow.errors import ConfigError
from adderflow.fixed import check_bits
from adderflow.hw.units.lanes import pack_lanes
from adderflow.hw.units.window import WindowConfig

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

    def cycles(self, pixels: int = 1) -> int:
        """Input always valid, output ready: one beat a cycle, first input to last output."""
        return pixels * self.taps * (self.channels // self.lanes) + MAXPOOL_LATENCY
