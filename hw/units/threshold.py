"""af_threshold: per-channel sign threshold after an MVU (``+1 if direction*acc >=
threshold else -1``), its parameter ROMs and cycle formula."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from adderflow.errors import ConfigError
from adderflow.fixed import signed_bits
from adderflow.hw.units.common import BINARY_CODE_BITS
from adderflow.hw.units.lanes import ChannelStream, bipolar_to_bits, pack_lanes, write_memh

# af_threshold: operands -> comparison register -> slice, the requantizer's depth on
# purpose, so a layer's latency does not depend on which of the two ends it.
THRESHOLD_LATENCY = 3
THRESHOLD_SOURCES = ("af_threshold.v", "af_skid.v")


def threshold_cycles(CH: int, PE: int, vectors: int = 1) -> int:  # noqa: N803
    """Cycles af_threshold takes for ``vectors`` vectors of ``CH`` channels, ``PE`` per beat."""
    if CH % PE:
        raise ConfigError(f"threshold unit CH={CH} is not a multiple of PE={PE}")
    return vectors * (CH // PE) + THRESHOLD_LATENCY


@dataclass(frozen=True)
class ThresholdConfig(ChannelStream):
    """One af_threshold instance: ``+1 if direction*acc >= threshold else -1`` per channel.

    The IR's sign threshold (DESIGN.md rule 6, ``adderflow.fixed.binarize``); output
    beats carry ``BINARY_CODE_BITS``-bit codes (+1 = 01, -1 = 11), ``pe`` channels a beat.
    """

    unit: ClassVar[str] = "threshold"

    ch: int
    acc_bits: int
    t_bits: int
    pe: int = 1

    def __post_init__(self) -> None:
        if self.ch < 1 or self.pe < 1 or self.ch % self.pe:
            raise ConfigError(f"threshold unit CH={self.ch} is not a multiple of PE={self.pe}")
        if self.acc_bits < 1:
            raise ConfigError("threshold unit acc_bits must be positive")
        if self.t_bits < 2:
            raise ConfigError(f"threshold unit t_bits must be at least 2, got {self.t_bits}")

    @classmethod
    def fit(
        cls, threshold: np.ndarray, direction: np.ndarray, acc_bits: int, pe: int = 1
    ) -> ThresholdConfig:
        """The narrowest threshold width holding the given per-channel thresholds."""
        t = np.asarray(threshold, dtype=np.int64)
        d = np.asarray(direction, dtype=np.int64)
        if t.shape != d.shape or t.ndim != 1:
            raise ConfigError(
                f"threshold {t.shape} and direction {d.shape} must be equal 1-D shapes"
            )
        t_bits = max(2, signed_bits(int(np.max(np.abs(t), initial=0))))
        return cls(t.size, acc_bits, t_bits, pe)

    @property
    def cf(self) -> int:
        """Beats per vector (channel fold)."""
        return self.ch // self.pe

    @property
    def out_bits(self) -> int:
        return BINARY_CODE_BITS

    def parameters(
        self, thresh_file: str = "thresh.hex", dir_file: str = "dir.hex"
    ) -> dict[str, object]:
        """HDL parameters of af_threshold (render them with ``hdl_literal``)."""
        return {
            "CH": self.ch,
            "PE": self.pe,
            "ACC_BITS": self.acc_bits,
            "T_BITS": self.t_bits,
            "THRESH_FILE": thresh_file,
            "DIR_FILE": dir_file,
        }

    def cycles(self, vectors: int = 1) -> int:
        return threshold_cycles(self.ch, self.pe, vectors)

    def channel_words(self, values: np.ndarray, what: str) -> list[int]:
        """Per-channel words, ``PE`` lanes a word: thresholds as ``t_bits`` signed lanes,
        directions as single bits (1 for +1, 0 for -1, the bipolar bit code)."""
        v = np.asarray(values, dtype=np.int64)
        if v.shape != (self.ch,):
            raise ConfigError(f"threshold unit {what} has shape {v.shape}, expected ({self.ch},)")
        if what == "direction":
            return pack_lanes(bipolar_to_bits(v, what).reshape(self.cf, self.pe), 1, False, what)
        return pack_lanes(v.reshape(self.cf, self.pe), self.t_bits, what=what)

    def write_params(
        self,
        thresh_path: str | os.PathLike,
        dir_path: str | os.PathLike,
        threshold: np.ndarray,
        direction: np.ndarray,
    ) -> tuple[Path, Path]:
        """Write the threshold and direction ROM files."""
        note = f"af_threshold CH={self.ch} PE={self.pe}"
        t = write_memh(
            thresh_path,
            self.channel_words(threshold, "threshold"),
            self.pe * self.t_bits,
            note,
        )
        d = write_memh(dir_path, self.channel_words(direction, "direction"), self.pe, note)
        return t, d


class ThresholdUnit:
    """af_threshold as the unit that ends a network layer (``adderflow.hw.network``):
    ``params`` holds ``threshold`` and ``direction``."""

    kind = "threshold"
    module = "af_threshold"
    latency = THRESHOLD_LATENCY
    sources = THRESHOLD_SOURCES

    @staticmethod
    def files(name: str) -> tuple[str, str]:
        return f"{name}_thresh.hex", f"{name}_dir.hex"

    @staticmethod
    def config(params: dict[str, Any], acc_bits: int, pe: int) -> ThresholdConfig:
        return ThresholdConfig.fit(params["threshold"], params["direction"], acc_bits, pe)

    @staticmethod
    def write(config: ThresholdConfig, paths: tuple[Path, Path], params: dict[str, Any]) -> None:
        config.write_params(*paths, params["threshold"], params["direction"])
