"""af_mul: a squeeze-excite gate, x times a per-image gate vector, exact; its cycle
formula and handshake model. The requantizer after it in the IR is an af_requant."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adderflow.errors import ConfigError
from adderflow.fixed import check_bits, gate_product, product_bits
from adderflow.hw.units.common import MAX_OUT_BITS
from adderflow.hw.units.lanes import frame_lanes, frame_words

# product register -> output slice
MUL_LATENCY = 2
MUL_SOURCES = ("af_mul.v", "af_skid.v")


@dataclass(frozen=True)
class MulConfig:
    """One af_mul: per image ``channels/lanes`` gate beats (port b), then the image's
    ``pixels`` pixels of x (port a), lane-wise ``x · gate`` in ``out_bits``."""

    channels: int
    pixels: int
    x_bits: int
    gate_bits: int
    out_bits: int
    lanes: int = 1

    def __post_init__(self) -> None:
        check_bits(self.x_bits, "gate product x width")
        check_bits(self.gate_bits, "gate product gate width")
        if min(self.channels, self.pixels, self.lanes) < 1 or self.channels % self.lanes:
            raise ConfigError(
                f"gate product channels {self.channels} must be a multiple of lanes "
                f"{self.lanes}, pixels {self.pixels} positive"
            )
        needed = product_bits(self.x_bits, self.gate_bits)
        if not needed <= self.out_bits <= MAX_OUT_BITS:
            raise ConfigError(
                f"gate product out_bits {self.out_bits}: products of {self.x_bits}- and "
                f"{self.gate_bits}-bit codes need {needed}..{MAX_OUT_BITS} bits"
            )

    @property
    def groups(self) -> int:
        return self.channels // self.lanes

    def parameters(self) -> dict[str, object]:
        return {
            "C": self.channels,
            "PIXELS": self.pixels,
            "LANES": self.lanes,
            "A_BITS": self.x_bits,
            "B_BITS": self.gate_bits,
            "OUT_BITS": self.out_bits,
        }

    def cycles(self, images: int = 1) -> int:
        """Both inputs always valid, output always ready: first (gate) transfer to last
        output transfer inclusive; each image takes its gate, then its x."""
        return images * (self.pixels + 1) * self.groups + MUL_LATENCY

    def input_words(self, x: np.ndarray, gate: np.ndarray) -> tuple[list[int], list[int]]:
        """Beats of x ``[N, C, H, W]`` (port a) and of the gates ``[N, C, 1, 1]`` (port b)."""
        x, gate = self._check(x, gate)
        return (
            frame_words(x, self.lanes, self.x_bits, "gate product x"),
            frame_words(gate, self.lanes, self.gate_bits, "gate product gate"),
        )

    def expected_beats(self, x: np.ndarray, gate: np.ndarray) -> np.ndarray:
        """The reference output beats: ``fixed.gate_product`` (the IR's rule)."""
        return frame_lanes(gate_product(*self._check(x, gate)), self.lanes)

    def _check(self, x: np.ndarray, gate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x, gate = np.asarray(x, dtype=np.int64), np.asarray(gate, dtype=np.int64)
        if (
            x.ndim != 4
            or x.shape[1] != self.channels
            or x.shape[2] * x.shape[3] != self.pixels
            or gate.shape != (x.shape[0], self.channels, 1, 1)
        ):
            raise ConfigError(
                f"gate product inputs x {list(x.shape)} and gate {list(gate.shape)}, expected "
                f"[N, {self.channels}, H, W] with H*W = {self.pixels} and "
                f"[N, {self.channels}, 1, 1]"
            )
        return x, gate

    def model(self) -> MulModel:
        return MulModel(self)


class MulModel:
    """af_mul's control (a ``handshake.GraphUnit``, port 0 = x, 1 = gate): ``load``
    (registered) takes the gate's beats, else x's while the slice has room; a product
    register, then the slice (``en = !full``)."""

    n_in, n_out = 2, 1
    __slots__ = ("g", "groups", "load", "p", "pixels", "skid", "v1")

    def __init__(self, config: MulConfig) -> None:
        from adderflow.hw.handshake import Skid  # lazily: handshake may import this module

        self.skid = Skid()
        self.groups, self.pixels = config.groups, config.pixels
        self.load, self.g, self.p, self.v1 = True, 0, 0, False

    def out_valid(self, port: int) -> bool:
        return self.skid.valid

    def in_ready(self, port: int, in_valid: list[bool]) -> bool:
        return self.load if port == 1 else not self.load and not self.skid.full

    def step(self, in_valid: list[bool], out_ready: list[bool]) -> None:
        en = not self.skid.full
        take_a = in_valid[0] and en and not self.load
        take_b = in_valid[1] and self.load
        self.skid.step(self.v1, out_ready[0])
        if en:
            self.v1 = take_a
        if not (take_a or take_b):
            return
        wrap = self.g == self.groups - 1
        self.g = 0 if wrap else self.g + 1
        if take_b and wrap:
            self.load = False
        if take_a and wrap:
            self.p = 0 if self.p == self.pixels - 1 else self.p + 1
            self.load = self.p == 0
