"""af_window: the frame buffer with pooling on write and the window taps."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adderflow.errors import ConfigError, QuantizationError
from adderflow.fixed import avg_pool_shift, check_bits, round_shift
from adderflow.hw.units.lanes import pack_lanes

# af_window: its first window beat is offered two cycles after the last input transfer.
WINDOW_LATENCY = 2
# af_round.v: the average pool's rounding (POOL_MODE "avg").
WINDOW_SOURCES = ("af_window.v", "af_skid.v", "af_round.v")
POOL_MODES = ("max", "avg")
WINDOW_COUNTER_BITS = 16  # af_window's widest counters (CW_MAX): the frame size limit


@dataclass(frozen=True)
class WindowConfig:
    """One af_window instance: frame buffer, optional pool on write, window taps.

    The input frame is ``height x width`` pixels of ``channels`` codes (before pooling),
    ``lanes`` channels a beat in raster order; the output is, per output pixel, the taps
    ``(ky, kx)`` of the pooled and zero-padded frame, ``lanes`` channels a beat. The pool
    (kernel = stride = ``pool``) is ``pool_mode`` ``"max"`` (the block's maximum) or
    ``"avg"`` (its mean, ``round_half_even(sum / pool²)``, ``pool`` a power of two).
    """

    bits: int
    channels: int
    height: int
    width: int
    kernel: tuple[int, int] = (3, 3)
    stride: int = 1
    pad: int = 0
    pool: int = 1
    lanes: int = 1
    pool_mode: str = "max"

    def __post_init__(self) -> None:
        check_bits(self.bits, "window code width")
        if self.pool_mode not in POOL_MODES:
            raise ConfigError(f"window pool mode '{self.pool_mode}' is not one of {POOL_MODES}")
        if self.pool_mode == "avg":
            try:  # the contract's rule, reported as this generator's configuration error
                avg_pool_shift((self.pool, self.pool), (self.pool, self.pool), "window")
            except QuantizationError as exc:
                raise ConfigError(str(exc)) from None
        kh, kw = self.kernel
        if min(self.channels, self.height, self.width, kh, kw, self.stride, self.pool) < 1:
            raise ConfigError(f"window sizes must be positive: {self}")
        if self.pad < 0:
            raise ConfigError(f"window padding must not be negative, got {self.pad}")
        if self.channels % self.lanes:
            raise ConfigError(
                f"window channels {self.channels} not a multiple of lanes {self.lanes}"
            )
        if self.height % self.pool or self.width % self.pool:
            raise ConfigError(f"frame {self.height}x{self.width} not divisible by pool {self.pool}")
        fh, fw = self.frame
        if kh > fh + 2 * self.pad or kw > fw + 2 * self.pad:
            raise ConfigError(
                f"kernel {self.kernel} larger than the padded frame "
                f"{fh + 2 * self.pad}x{fw + 2 * self.pad}"
            )
        if (fh + self.pad) * fw * (self.channels // self.lanes) >= 1 << (WINDOW_COUNTER_BITS - 2):
            raise ConfigError(
                f"frame {fh}x{fw}x{self.channels} too large for af_window's "
                f"{WINDOW_COUNTER_BITS}-bit address counters"
            )

    @property
    def frame(self) -> tuple[int, int]:
        """The stored frame (after pooling)."""
        return self.height // self.pool, self.width // self.pool

    @property
    def out_size(self) -> tuple[int, int]:
        (fh, fw), (kh, kw) = self.frame, self.kernel
        return (
            (fh + 2 * self.pad - kh) // self.stride + 1,
            (fw + 2 * self.pad - kw) // self.stride + 1,
        )

    @property
    def in_beats(self) -> int:
        return self.height * self.width * (self.channels // self.lanes)

    @property
    def out_beats(self) -> int:
        (oh, ow), (kh, kw) = self.out_size, self.kernel
        return oh * ow * kh * kw * (self.channels // self.lanes)

    def parameters(self) -> dict[str, object]:
        kh, kw = self.kernel
        return {
            "BITS": self.bits,
            "C": self.channels,
            "H": self.height,
            "W": self.width,
            "POOL": self.pool,
            "POOL_MODE": self.pool_mode,
            "LANES": self.lanes,
            "KH": kh,
            "KW": kw,
            "STRIDE": self.stride,
            "PAD": self.pad,
        }

    def cycles(self, frames: int = 1) -> int:
        """Load then emit, frame after frame (one buffer): first input to last output."""
        return frames * (self.in_beats + self.out_beats) + WINDOW_LATENCY - 1

    def _check_frames(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.int64)
        if x.ndim != 4 or x.shape[1:] != (self.channels, self.height, self.width):
            raise ConfigError(
                f"window input has shape {x.shape}, expected "
                f"(N, {self.channels}, {self.height}, {self.width})"
            )
        return x

    def input_words(self, x: np.ndarray) -> list[int]:
        """Beats for frames ``x[N, C, H, W]``: raster order, ``lanes`` channels a beat."""
        lanes = self._check_frames(x).transpose(0, 2, 3, 1).reshape(-1, self.lanes)
        return pack_lanes(lanes, self.bits, what="window input")

    def pooled(self, x: np.ndarray) -> np.ndarray:
        """The stored frame ``[N, C, FH, FW]``: max, or the contract's rounded mean, per block."""
        n, c, _, _ = x.shape
        fh, fw = self.frame
        blocks = x.reshape(n, c, fh, self.pool, fw, self.pool)
        if self.pool_mode == "avg":
            area = (self.pool, self.pool)
            return round_shift(blocks.sum(axis=(3, 5)), avg_pool_shift(area, area, "af_window"))
        return blocks.max(axis=(3, 5))

    def windows(self, x: np.ndarray) -> np.ndarray:
        """Reference output ``[N, OH, OW, KH*KW*C]``: each window in ``(ky, kx, c)`` order."""
        x = self._check_frames(x)
        n, c, _, _ = x.shape
        (fh, fw), (kh, kw), p, s = self.frame, self.kernel, self.pad, self.stride
        pooled = self.pooled(x)
        padded = np.zeros((n, fh + 2 * p, fw + 2 * p, c), dtype=np.int64)
        padded[:, p : p + fh, p : p + fw] = pooled.transpose(0, 2, 3, 1)
        oh, ow = self.out_size
        out = np.empty((n, oh, ow, kh * kw * c), dtype=np.int64)
        for oy in range(oh):
            for ox in range(ow):
                tile = padded[:, oy * s : oy * s + kh, ox * s : ox * s + kw]
                out[:, oy, ox] = tile.reshape(n, -1)
        return out
