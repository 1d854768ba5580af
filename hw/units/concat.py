"""af_concat: channel concatenation of two streams (``Concat``, axis 1), its cycle formula
and its handshake model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adderflow.errors import ConfigError
from adderflow.hw.units.lanes import frame_lanes, frame_words

# A taken beat goes straight into the output slice: offered one edge later.
CONCAT_LATENCY = 1
CONCAT_SOURCES = ("af_concat.v", "af_skid.v")


@dataclass(frozen=True)
class ConcatConfig:
    """One af_concat: at every pixel ``ca/lanes`` beats of stream a, then ``cb/lanes`` of
    stream b, ``bits`` a lane on both (the IR's Concat joins operands of one type)."""

    ca: int
    cb: int
    bits: int
    lanes: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= 16:
            raise ConfigError(f"concat lane width {self.bits} is outside 1..16")
        if min(self.ca, self.cb, self.lanes) < 1 or self.ca % self.lanes or self.cb % self.lanes:
            raise ConfigError(
                f"concat channels {self.ca} and {self.cb} must be multiples of lanes {self.lanes}"
            )

    @property
    def beats(self) -> tuple[int, int]:
        """Beats a pixel of a and of b."""
        return self.ca // self.lanes, self.cb // self.lanes

    def parameters(self) -> dict[str, object]:
        return {"CA": self.ca, "CB": self.cb, "LANES": self.lanes, "BITS": self.bits}

    def cycles(self, pixels: int) -> int:
        """Both inputs always valid, output always ready: first input transfer to last
        output transfer inclusive, for ``pixels`` pixels (all frames together)."""
        return pixels * sum(self.beats) + CONCAT_LATENCY

    def input_words(self, a: np.ndarray, b: np.ndarray) -> tuple[list[int], list[int]]:
        """The beats of frames ``a[N, CA, H, W]`` and ``b[N, CB, H, W]``."""
        a, b = self._check(a, b)
        return (
            frame_words(a, self.lanes, self.bits, "concat input a"),
            frame_words(b, self.lanes, self.bits, "concat input b"),
        )

    def expected_beats(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The reference output beats ``[beats, lanes]``: ONNX Concat on axis 1."""
        a, b = self._check(a, b)
        return frame_lanes(np.concatenate([a, b], axis=1), self.lanes)

    def _check(self, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        if (
            a.ndim != 4
            or b.ndim != 4
            or a.shape[1] != self.ca
            or b.shape[1] != self.cb
            or a.shape[::2] != b.shape[::2]
            or a.shape[3] != b.shape[3]
        ):
            raise ConfigError(
                f"concat inputs of shapes {list(a.shape)} and {list(b.shape)}, expected "
                f"[N, {self.ca}, H, W] and [N, {self.cb}, H, W]"
            )
        return a, b

    def model(self) -> ConcatModel:
        return ConcatModel(self)


class ConcatModel:
    """af_concat's control (a ``handshake.GraphUnit``, port 0 = a, 1 = b): the phase's
    input is ready while the output slice has room (both registers), the other is not."""

    n_in, n_out = 2, 1
    __slots__ = ("beat", "from_a", "per_pixel", "skid")

    def __init__(self, config: ConcatConfig) -> None:
        from adderflow.hw.handshake import Skid  # lazily: handshake may import this module

        self.skid = Skid()
        self.from_a, self.per_pixel = config.beats[0], sum(config.beats)
        self.beat = 0

    def out_valid(self, port: int) -> bool:
        return self.skid.valid

    def in_ready(self, port: int, in_valid: list[bool]) -> bool:
        return not self.skid.full and (self.beat < self.from_a) == (port == 0)

    def step(self, in_valid: list[bool], out_ready: list[bool]) -> None:
        port = 0 if self.beat < self.from_a else 1
        take = in_valid[port] and not self.skid.full
        self.skid.step(take, out_ready[0])
        if take:
            self.beat = (self.beat + 1) % self.per_pixel
