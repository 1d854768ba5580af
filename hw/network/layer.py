"""A network layer in the stream's terms (window → MVU → post unit) and its folding."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from adderflow.errors import ConfigError
from adderflow.hw.units.common import BINARY_CODE_BITS
from adderflow.hw.units.linewin import LineWindowConfig
from adderflow.hw.units.maxpool import MAXPOOL_LATENCY
from adderflow.hw.units.mvu import MVU_LATENCY
from adderflow.hw.units.requant import RequantUnit
from adderflow.hw.units.window import WINDOW_LATENCY, WindowConfig, pair, quad


class PostUnit(Protocol):
    """The unit after a layer's MVU (``units.requant.RequantUnit``,
    ``units.threshold.ThresholdUnit``): how it is configured, named and timed."""

    kind: str  # design.json's "post" and the instance name's suffix
    module: str
    latency: int
    sources: tuple[str, ...]

    def files(self, name: str) -> tuple[str, str]: ...

    def config(self, params: dict[str, Any], acc_bits: int, pe: int) -> Any: ...

    def write(self, config: Any, paths: tuple[Path, Path], params: dict[str, Any]) -> None: ...


@dataclass
class Layer:
    """One ``window → MVU → post unit`` chain, shapes in the stream's terms."""

    name: str
    mode: str  # adder | mac | xnor
    channels: int  # C of the input frame (after pooling)
    height: int  # input frame before pooling
    width: int
    pool: int | tuple[int, int]  # fused before the window: an int if square, else (rows, columns)
    kernel: tuple[int, int]  # (rows, columns)
    stride: tuple[int, int]  # (rows, columns)
    pad: tuple[int, int, int, int]  # (top, left, bottom, right), ONNX's order
    out: int
    in_bits: int
    weight_bits: int
    acc_bits: int  # the IR's accumulator width
    weight: np.ndarray = field(repr=False)  # [OUT, K], columns in (ky, kx, c) order; ±1 for xnor
    post_unit: PostUnit = field(default_factory=RequantUnit, repr=False)  # after the MVU
    post_node: str = ""  # the IR node it comes from
    params: dict[str, Any] = field(default_factory=dict, repr=False)  # the post unit's
    out_bits: int = 8
    pool_mode: str = "max"  # max | avg: the pool fused into the window
    groups: int = 1  # a grouped (or depthwise) convolution: the IR's group
    # A max pool before the window that cannot fuse into it (padding, or kernel != stride):
    # its (kernel, strides, pads) and the frame it reads (rows, columns); an af_window with
    # PAD_MIN then af_maxpool, whose output is this layer's input frame (height, width).
    prepool: tuple | None = None
    prepool_frame: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        # Ints as before (a square stride, equal pads) are still taken.
        self.stride, self.pad = pair(self.stride), quad(self.pad)

    @property
    def post(self) -> str:
        """The post unit's kind: ``requant`` | ``threshold``."""
        return self.post_unit.kind

    @property
    def latency(self) -> int:
        """Cycles the chain adds to its fold: window → first beat, MVU, post unit (the
        window's first beat is the MVU's first issue)."""
        return WINDOW_LATENCY + MVU_LATENCY + self.post_unit.latency - 1

    def window(self, lanes: int = 1, bits: int | None = None) -> WindowConfig:
        """The af_window that feeds this layer's MVU."""
        return WindowConfig(
            bits or self.bits,
            self.channels,
            self.height,
            self.width,
            self.kernel,
            self.stride,
            self.pad,
            self.pool,
            lanes,
            self.pool_mode,
            self.groups,
        )

    def line_window(self, lanes: int = 1, bits: int | None = None) -> LineWindowConfig | None:
        """The af_linewin that can feed this layer's MVU, or None where only af_window can.

        None with a pool before the layer (af_linewin does not pool), a padding not below
        the kernel or a frame its counters cannot address (``LineWindowConfig`` refuses
        them), and with stride leftovers (input rows below the last window): af_linewin
        takes those after its last output row, so they would still be flowing through the
        layers before it when the image has left, and the next image would not start
        from an idle network (the cycle model is per image from idle).
        """
        if self.pool != 1:
            return None
        try:
            config = LineWindowConfig(
                bits or self.bits,
                self.channels,
                self.height,
                self.width,
                self.kernel,
                self.stride,
                self.pad,
                lanes=lanes,
                groups=self.groups,
            )
        except ConfigError:
            return None
        (oh, _), kh = config.out_size, self.kernel[0]
        if (oh - 1) * self.stride[0] - self.pad[0] + kh < self.height:
            return None
        return config

    def pool_window(self, lanes: int = 1, bits: int | None = None) -> WindowConfig | None:
        """The af_window (padded taps at the minimum code) of the max pool before this
        layer, or None without one."""
        if self.prepool is None:
            return None
        kernel, strides, pads = self.prepool
        h, w = self.prepool_frame
        return WindowConfig(
            bits or self.bits, self.channels, h, w, kernel, strides, pads, lanes=lanes,
            pad_min=True,
        )  # fmt: skip

    def prepool_cycles(self, lanes: int) -> int:
        """Cycles the max pool stage adds before the layer's window (0 without one): its
        window's taps at one beat a cycle, the window's and af_maxpool's latency."""
        config = self.pool_window(lanes)
        if config is None:
            return 0
        return config.out_beats + WINDOW_LATENCY + MAXPOOL_LATENCY - 1

    @property
    def vectors(self) -> int:
        oh, ow = self.window().out_size
        return oh * ow

    @property
    def k(self) -> int:
        """Taps of one dot product (one group's, for a grouped convolution)."""
        return self.kernel[0] * self.kernel[1] * self.channels // self.groups

    @property
    def bits(self) -> int:
        """The MVU's input lane width (binary layers: the 2-bit ±1/0 codes)."""
        if self.mode == "xnor":
            return BINARY_CODE_BITS
        return max(self.in_bits, self.weight_bits)

    def fold_cycles(self, pe: int, simd: int) -> int:
        """Cycles the MVU spends per image: ``vectors · NF · SF`` (grouped: ``groups``
        input vectors a pixel of ``NF/groups`` folds each, the same product)."""
        return self.vectors * (self.out // pe) * (self.k // simd)


@dataclass(frozen=True)
class Folding:
    """``pe[i]``/``simd[i]`` per layer; ``simd[i+1] == pe[i]``."""

    pe: tuple[int, ...]
    simd: tuple[int, ...]

    @property
    def lanes(self) -> int:
        return sum(p * s for p, s in zip(self.pe, self.simd, strict=True))
