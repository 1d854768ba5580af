"""af_requant: per-channel requantization after an MVU (``sat(round((acc*M + B) *
2**-shift))``, fused ReLU), its parameter ROMs and cycle formula."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from adderflow.errors import ConfigError
from adderflow.fixed import MAX_SHIFT, signed_bits
from adderflow.hw.units.common import MAX_OUT_BITS
from adderflow.hw.units.lanes import ChannelStream, pack_lanes, write_memh

# operands -> product -> slice (af_requant.v), counted as MVU_LATENCY is.
REQUANT_LATENCY = 3
REQUANT_SOURCES = ("af_requant.v", "af_round.v", "af_skid.v")


def requant_cycles(CH: int, PE: int, vectors: int = 1) -> int:  # noqa: N803
    """Cycles af_requant takes for ``vectors`` vectors of ``CH`` channels, ``PE`` per beat."""
    if CH % PE:
        raise ConfigError(f"requantizer CH={CH} is not a multiple of PE={PE}")
    return vectors * (CH // PE) + REQUANT_LATENCY


@dataclass(frozen=True)
class RequantConfig(ChannelStream):
    """One af_requant instance: ``sat(round((acc*M + B) * 2**-shift))`` per channel."""

    unit: ClassVar[str] = "requantizer"

    ch: int
    acc_bits: int
    m_bits: int
    b_bits: int
    shift: int
    out_bits: int
    relu: bool = False
    pe: int = 1

    def __post_init__(self) -> None:
        if self.ch < 1 or self.pe < 1 or self.ch % self.pe:
            raise ConfigError(f"requantizer CH={self.ch} is not a multiple of PE={self.pe}")
        # Wider than the 16-bit code limit only for a network's logits, which no layer reads.
        if not 2 <= self.out_bits <= MAX_OUT_BITS:
            raise ConfigError(
                f"requantizer output bit width {self.out_bits} is outside 2..{MAX_OUT_BITS}"
            )
        if not 0 <= self.shift <= MAX_SHIFT:
            raise ConfigError(f"requantizer shift {self.shift} is outside 0..{MAX_SHIFT}")
        for name in ("acc_bits", "m_bits", "b_bits"):
            if getattr(self, name) < 1:
                raise ConfigError(f"requantizer {name} must be positive")

    @classmethod
    def fit(
        cls,
        multiplier: np.ndarray,
        bias: np.ndarray,
        shift: int,
        acc_bits: int,
        out_bits: int,
        relu: bool = False,
        pe: int = 1,
    ) -> RequantConfig:
        """The narrowest widths holding the given per-channel ``M`` and ``B``."""
        m = np.asarray(multiplier, dtype=np.int64)
        b = np.asarray(bias, dtype=np.int64)
        if m.shape != b.shape or m.ndim != 1:
            raise ConfigError(f"multiplier {m.shape} and bias {b.shape} must be equal 1-D shapes")
        m_bits = signed_bits(int(np.max(np.abs(m), initial=0)))
        b_bits = signed_bits(int(np.max(np.abs(b), initial=0)))
        return cls(m.size, acc_bits, m_bits, b_bits, int(shift), out_bits, bool(relu), pe)

    @property
    def cf(self) -> int:
        """Beats per vector (channel fold)."""
        return self.ch // self.pe

    def parameters(
        self, mult_file: str = "mult.hex", bias_file: str = "bias.hex"
    ) -> dict[str, object]:
        """HDL parameters of af_requant (render them with ``hdl_literal``)."""
        return {
            "CH": self.ch,
            "PE": self.pe,
            "ACC_BITS": self.acc_bits,
            "M_BITS": self.m_bits,
            "B_BITS": self.b_bits,
            "SHIFT": self.shift,
            "OUT_BITS": self.out_bits,
            "RELU": int(self.relu),
            "MULT_FILE": mult_file,
            "BIAS_FILE": bias_file,
        }

    def cycles(self, vectors: int = 1) -> int:
        return requant_cycles(self.ch, self.pe, vectors)

    def channel_words(self, values: np.ndarray, bits: int, what: str) -> list[int]:
        """Per-channel values packed ``PE`` lanes a word, word ``c`` = channels ``c*PE + p``."""
        v = np.asarray(values, dtype=np.int64)
        if v.shape != (self.ch,):
            raise ConfigError(f"requantizer {what} has shape {v.shape}, expected ({self.ch},)")
        return pack_lanes(v.reshape(self.cf, self.pe), bits, what=what)

    def write_params(
        self,
        mult_path: str | os.PathLike,
        bias_path: str | os.PathLike,
        multiplier: np.ndarray,
        bias: np.ndarray,
    ) -> tuple[Path, Path]:
        """Write the multiplier and bias ROM files."""
        note = f"af_requant CH={self.ch} PE={self.pe}"
        m = write_memh(
            mult_path,
            self.channel_words(multiplier, self.m_bits, "multiplier"),
            self.pe * self.m_bits,
            note,
        )
        b = write_memh(
            bias_path,
            self.channel_words(bias, self.b_bits, "bias"),
            self.pe * self.b_bits,
            note,
        )
        return m, b


class RequantUnit:
    """af_requant as the unit that ends a network layer (``adderflow.hw.network``):
    ``params`` holds ``multiplier``, ``bias``, ``shift``, ``out_bits`` and ``relu``."""

    kind = "requant"
    module = "af_requant"
    latency = REQUANT_LATENCY
    sources = REQUANT_SOURCES

    @staticmethod
    def files(name: str) -> tuple[str, str]:
        return f"{name}_mult.hex", f"{name}_bias.hex"

    @staticmethod
    def config(params: dict[str, Any], acc_bits: int, pe: int) -> RequantConfig:
        p = params
        return RequantConfig.fit(
            p["multiplier"], p["bias"], p["shift"], acc_bits, p["out_bits"], p["relu"], pe
        )

    @staticmethod
    def write(config: RequantConfig, paths: tuple[Path, Path], params: dict[str, Any]) -> None:
        config.write_params(*paths, params["multiplier"], params["bias"])
