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


def pair(value: int | tuple[int, ...]) -> tuple[int, int]:
    """A stride as ``(rows, columns)``: an int is both."""
    values = (value, value) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) != 2:
        raise ConfigError(f"window stride must be an int or (rows, columns), got {value}")
    return values  # type: ignore[return-value]


def quad(value: int | tuple[int, ...]) -> tuple[int, int, int, int]:
    """Pads as ``(top, left, bottom, right)``: an int is all four."""
    values = (value,) * 4 if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) != 4:
        raise ConfigError(
            f"window pads must be an int or (top, left, bottom, right), got {value}"
        )
    return values  # type: ignore[return-value]


def check_geometry(config: WindowConfig, what: str) -> tuple[int, int]:
    """Positive sizes, kernel and strides, pads not negative; the kernel."""
    kh, kw = config.kernel
    sizes = (config.channels, config.height, config.width, kh, kw, *pair(config.stride))
    pair(config.pool)  # a malformed pool is named here
    if min(*sizes, config.lanes) < 1:
        raise ConfigError(f"{what} sizes must be positive: {config}")
    if min(quad(config.pad)) < 0:
        raise ConfigError(f"{what} padding must not be negative, got {config.pad}")
    return kh, kw


def check_groups(config: WindowConfig, what: str) -> None:
    """Whole channel beats a group: ``(C / LANES) % groups == 0``."""
    groups, lanes = config.groups, max(config.lanes, 1)
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ConfigError(f"{what} groups must be a positive integer, got {groups!r}")
    if config.channels % (lanes * groups):
        raise ConfigError(
            f"{what} channels {config.channels} not a multiple of lanes {lanes} × groups "
            f"{groups} (a beat carries one group's channels)"
        )


def geometry_parameters(
    strides: tuple[int, int], pads: tuple[int, int, int, int]
) -> dict[str, int]:
    """The window's stride and pad parameters: ``STRIDE``/``PAD`` where they are uniform
    (the designs of square windows read as before), else the general ``STRIDE_H``,
    ``STRIDE_W``, ``PAD_T``, ``PAD_L``, ``PAD_B``, ``PAD_R`` (the HDL defaults them to
    ``STRIDE`` and ``PAD``)."""
    if len(set(strides)) == 1 and len(set(pads)) == 1:
        return {"STRIDE": strides[0], "PAD": pads[0]}
    top, left, bottom, right = pads
    return {
        "STRIDE_H": strides[0], "STRIDE_W": strides[1],
        "PAD_T": top, "PAD_L": left, "PAD_B": bottom, "PAD_R": right,
    }  # fmt: skip


@dataclass(frozen=True)
class WindowConfig:
    """One af_window instance: frame buffer, optional pool on write, window taps.

    The input frame is ``height x width`` pixels of ``channels`` codes (before pooling),
    ``lanes`` channels a beat in raster order; the output is, per output pixel, the taps
    ``(ky, kx)`` of the pooled and zero-padded frame, ``lanes`` channels a beat. The pool
    (kernel = stride = ``pool``, rows x columns) is ``pool_mode`` ``"max"`` (the block's
    maximum) or ``"avg"`` (its mean, ``round_half_even(sum / area)``, the area a power of
    two). The kernel, ``stride`` (rows, columns) and ``pad`` (top, left, bottom, right)
    need not be square or symmetric: a 1-D signal is the frame ``[C, 1, L]`` with kernel
    ``(1, k)``, stride ``(1, s)`` and pads ``(0, p, 0, p)``.
    """

    bits: int
    channels: int
    height: int
    width: int
    kernel: tuple[int, int] = (3, 3)
    stride: int | tuple[int, int] = 1  # (rows, columns); an int for both
    pad: int | tuple[int, int, int, int] = 0  # (top, left, bottom, right) as ONNX; an int for all
    pool: int | tuple[int, int] = 1  # (rows, columns); an int for both
    lanes: int = 1
    pool_mode: str = "max"
    groups: int = 1  # a grouped convolution's window: each pixel's taps group by group
    pad_min: bool = False  # a max pool's window: padded taps are the minimum code, not 0

    def __post_init__(self) -> None:
        check_bits(self.bits, "window code width")
        check_groups(self, "window")
        if self.pool_mode not in POOL_MODES:
            raise ConfigError(f"window pool mode '{self.pool_mode}' is not one of {POOL_MODES}")
        if self.pool_mode == "avg":
            try:  # the contract's rule, reported as this generator's configuration error
                avg_pool_shift(self.pools, self.pools, "window")
            except QuantizationError as exc:
                raise ConfigError(str(exc)) from None
        kh, kw = check_geometry(self, "window")
        if min(self.pools) < 1:
            raise ConfigError(f"window sizes must be positive: {self}")
        if self.channels % self.lanes:
            raise ConfigError(
                f"window channels {self.channels} not a multiple of lanes {self.lanes}"
            )
        if self.height % self.pools[0] or self.width % self.pools[1]:
            raise ConfigError(f"frame {self.height}x{self.width} not divisible by pool {self.pool}")
        fh, fw = self.frame
        top, left, bottom, right = self.pads
        if kh > fh + top + bottom or kw > fw + left + right:
            raise ConfigError(
                f"kernel {self.kernel} larger than the padded frame "
                f"{fh + top + bottom}x{fw + left + right}"
            )
        if (fh + top) * fw * (self.channels // self.lanes) >= 1 << (WINDOW_COUNTER_BITS - 2):
            raise ConfigError(
                f"frame {fh}x{fw}x{self.channels} too large for af_window's "
                f"{WINDOW_COUNTER_BITS}-bit address counters"
            )

    @property
    def frame(self) -> tuple[int, int]:
        """The stored frame (after pooling)."""
        return self.height // self.pools[0], self.width // self.pools[1]

    @property
    def pools(self) -> tuple[int, int]:
        """The pool's ``(rows, columns)`` (kernel = stride)."""
        return pair(self.pool)

    @property
    def strides(self) -> tuple[int, int]:
        """``(rows, columns)``."""
        return pair(self.stride)

    @property
    def pads(self) -> tuple[int, int, int, int]:
        """``(top, left, bottom, right)``, ONNX's order."""
        return quad(self.pad)

    @property
    def out_size(self) -> tuple[int, int]:
        (fh, fw), (kh, kw) = self.frame, self.kernel
        (sh, sw), (top, left, bottom, right) = self.strides, self.pads
        return (fh + top + bottom - kh) // sh + 1, (fw + left + right - kw) // sw + 1

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
            **self._pool_parameters(),
            "POOL_MODE": self.pool_mode,
            "LANES": self.lanes,
            "KH": kh,
            "KW": kw,
            **geometry_parameters(self.strides, self.pads),
            **({"GROUPS": self.groups} if self.groups > 1 else {}),
            **({"PAD_MIN": 1} if self.pad_min else {}),
        }

    def _pool_parameters(self) -> dict[str, int]:
        """``POOL`` for a square pool (as before), else ``POOL_H`` and ``POOL_W``."""
        ph, pw = self.pools
        return {"POOL": ph} if ph == pw else {"POOL_H": ph, "POOL_W": pw}

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
        ph, pw = self.pools
        blocks = x.reshape(n, c, fh, ph, fw, pw)
        if self.pool_mode == "avg":
            shift = avg_pool_shift(self.pools, self.pools, "af_window")
            return round_shift(blocks.sum(axis=(3, 5)), shift)
        return blocks.max(axis=(3, 5))

    def windows(self, x: np.ndarray) -> np.ndarray:
        """Reference output ``[N, OH, OW, KH*KW*C]``: each window in ``(ky, kx, c)`` order,
        or with ``groups`` in ``(group, ky, kx, c in the group)`` order."""
        x = self._check_frames(x)
        n, c, _, _ = x.shape
        (fh, fw), (kh, kw), (sh, sw) = self.frame, self.kernel, self.strides
        top, left, bottom, right = self.pads
        pooled = self.pooled(x)
        fill = -(1 << (self.bits - 1)) if self.pad_min else 0
        padded = np.full((n, fh + top + bottom, fw + left + right, c), fill, dtype=np.int64)
        padded[:, top : top + fh, left : left + fw] = pooled.transpose(0, 2, 3, 1)
        oh, ow = self.out_size
        out = np.empty((n, oh, ow, kh * kw * c), dtype=np.int64)
        for oy in range(oh):
            for ox in range(ow):
                tile = padded[:, oy * sh : oy * sh + kh, ox * sw : ox * sw + kw]
                tile = tile.reshape(n, kh, kw, self.groups, c // self.groups)
                out[:, oy, ox] = tile.transpose(0, 3, 1, 2, 4).reshape(n, -1)
        return out
