"""af_sumpool: per-channel window sums (kernel = stride, no padding), its cycle formula
and its handshake model. A global average pool is the window ``(H, W)``; the
requantizer after it in the IR is an af_requant (``units.requant``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adderflow.errors import ConfigError
from adderflow.fixed import check_bits, window_sum, window_sum_bits
from adderflow.hw.units.common import MAX_OUT_BITS
from adderflow.hw.units.lanes import frame_lanes, frame_words, unpack_lanes

# A beat that ends a window goes straight into the output slice: offered one edge later.
SUMPOOL_LATENCY = 1
SUMPOOL_SOURCES = ("af_sumpool.v", "af_skid.v")


@dataclass(frozen=True)
class SumPoolConfig:
    """One af_sumpool: ``channels`` x ``height`` x ``width`` frames of ``in_bits`` codes,
    ``lanes`` channels a beat, summed over ``kernel`` windows at stride ``kernel`` into
    ``out_bits`` sums (rows and columns no window covers are dropped, as the IR's)."""

    channels: int
    height: int
    width: int
    kernel: tuple[int, int]
    in_bits: int
    out_bits: int
    lanes: int = 1

    def __post_init__(self) -> None:
        check_bits(self.in_bits, "sum pool input width")
        kh, kw = self.kernel
        if min(self.channels, self.height, self.width, kh, kw, self.lanes) < 1:
            raise ConfigError(f"sum pool sizes must be positive: {self}")
        if kh > self.height or kw > self.width:
            raise ConfigError(
                f"sum pool window {list(self.kernel)} does not fit the frame "
                f"{self.height}x{self.width}"
            )
        if self.channels % self.lanes:
            raise ConfigError(
                f"sum pool channels {self.channels} not a multiple of lanes {self.lanes}"
            )
        needed = window_sum_bits(self.in_bits, kh * kw)
        if not needed <= self.out_bits <= MAX_OUT_BITS:
            raise ConfigError(
                f"sum pool out_bits {self.out_bits}: its sums of {kh * kw} {self.in_bits}-bit "
                f"codes need {needed}..{MAX_OUT_BITS} bits"
            )

    @property
    def groups(self) -> int:
        """Beats a pixel (channel groups)."""
        return self.channels // self.lanes

    @property
    def out_size(self) -> tuple[int, int]:
        return self.height // self.kernel[0], self.width // self.kernel[1]

    @property
    def in_beats(self) -> int:
        return self.height * self.width * self.groups

    @property
    def out_beats(self) -> int:
        oh, ow = self.out_size
        return oh * ow * self.groups

    def parameters(self) -> dict[str, object]:
        kh, kw = self.kernel
        return {
            "C": self.channels,
            "H": self.height,
            "W": self.width,
            "KH": kh,
            "KW": kw,
            "LANES": self.lanes,
            "IN_BITS": self.in_bits,
            "OUT_BITS": self.out_bits,
        }

    def emits(self) -> list[bool]:
        """Per input beat of a frame: whether it is a window's last tap (sent out)."""
        (oh, ow), (kh, kw) = self.out_size, self.kernel
        y, x = np.meshgrid(np.arange(self.height), np.arange(self.width), indexing="ij")
        last = (y % kh == kh - 1) & (x % kw == kw - 1) & (y < oh * kh) & (x < ow * kw)
        return np.repeat(last.reshape(-1), self.groups).tolist()

    @property
    def last_emit(self) -> int:
        """Index in its frame of the input beat that ends the frame's last window."""
        (oh, ow), (kh, kw) = self.out_size, self.kernel
        return ((oh * kh - 1) * self.width + ow * kw) * self.groups - 1

    def cycles(self, frames: int = 1) -> int:
        """Input always valid, output always ready: first input transfer to last output
        transfer inclusive (the output never stalls the input: it is never faster)."""
        return (frames - 1) * self.in_beats + self.last_emit + 1 + SUMPOOL_LATENCY

    def input_words(self, x: np.ndarray) -> list[int]:
        return frame_words(self._frames(x), self.lanes, self.in_bits, "sum pool input")

    def sums(self, x: np.ndarray) -> np.ndarray:
        """The reference ``[N, C, OH, OW]``: ``fixed.window_sum`` (the IR's rule)."""
        return window_sum(self._frames(x), self.kernel, self.kernel)

    def expected_beats(self, x: np.ndarray) -> np.ndarray:
        """The reference output beats ``[beats, lanes]``."""
        return frame_lanes(self.sums(x), self.lanes)

    def output_values(self, words: list[int]) -> np.ndarray:
        """Output beats back to sums, one row a beat."""
        return np.array([unpack_lanes(w, self.lanes, self.out_bits) for w in words])

    def _frames(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.int64)
        if x.ndim != 4 or x.shape[1:] != (self.channels, self.height, self.width):
            raise ConfigError(
                f"sum pool input has shape {list(x.shape)}, expected "
                f"[N, {self.channels}, {self.height}, {self.width}]"
            )
        return x

    def model(self) -> SumPoolModel:
        return SumPoolModel(self)


class SumPoolModel:
    """af_sumpool's control (a ``handshake.GraphUnit``): ``in_ready = !full`` of its slice;
    a taken beat that ends a window enters the slice the same edge."""

    n_in = n_out = 1
    __slots__ = ("beat", "emit", "skid")

    def __init__(self, config: SumPoolConfig) -> None:
        from adderflow.hw.handshake import Skid  # lazily: handshake may import this module

        self.skid = Skid()
        self.emit = config.emits()
        self.beat = 0

    def out_valid(self, port: int) -> bool:
        return self.skid.valid

    def in_ready(self, port: int, in_valid: list[bool]) -> bool:
        return not self.skid.full

    def step(self, in_valid: list[bool], out_ready: list[bool]) -> None:
        take = in_valid[0] and not self.skid.full
        self.skid.step(take and self.emit[self.beat], out_ready[0])
        if take:
            self.beat = (self.beat + 1) % len(self.emit)
