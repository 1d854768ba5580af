"""af_mvu: the matrix-vector unit (adder, multiply or xnor PEs), its widths, weight
ROM words and cycle formula."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adderflow.errors import ConfigError
from adderflow.fixed import adder_acc_bits, check_bits, mul_acc_bits, signed_bits
from adderflow.hw.units.common import BINARY_CODE_BITS
from adderflow.hw.units.lanes import (
    binary_codes,
    bipolar_to_bits,
    pack_lanes,
    unpack_lanes,
    write_memh,
)

MODES = ("adder", "mac", "xnor")
# Clock edges from an accepted input beat to its last output beat, minus the fold length:
# issue registers -> accumulator -> output slice (af_mvu.v). Counted inclusively, first
# input transfer to last output transfer.
MVU_LATENCY = 3
MVU_SOURCES = ("af_mvu.v", "af_pe.v", "af_skid.v")


def pe_acc_bits(mode: str, bits: int, terms: int) -> int:
    """Accumulator width that holds every dot product of ``terms`` lanes exactly.

    adder: ``b + ceil(log2 K) + 1`` and mac: ``2b + ceil(log2 K)`` come from
    ``adderflow.fixed`` (DESIGN.md rule 2); xnor sums ``K`` values of +-1, so it needs the
    signed width of ``K``.
    """
    if mode == "adder":
        return adder_acc_bits(bits, terms)
    if mode == "mac":
        return mul_acc_bits(bits, bits, terms)
    if mode == "xnor":
        return signed_bits(terms)
    raise ConfigError(f"unknown PE mode {mode!r}; valid modes: {', '.join(MODES)}")


def check_fold(k: int, out: int, pe: int, simd: int, groups: int = 1) -> None:
    """Refuse a folding the MVU does not support: it needs K % SIMD == 0 and
    OUT % (PE * GROUPS) == 0 (a group's rows are whole PE folds)."""
    values = (("K", k), ("OUT", out), ("PE", pe), ("SIMD", simd), ("GROUPS", groups))
    for name, value in values:
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ConfigError(f"MVU {name} must be a positive integer, got {value!r}")
    if k % simd:
        raise ConfigError(f"MVU K={k} is not a multiple of SIMD={simd}; pick SIMD dividing K")
    if out % groups:
        raise ConfigError(f"MVU OUT={out} is not a multiple of GROUPS={groups}")
    if (out // groups) % pe:
        raise ConfigError(
            f"MVU OUT={out} in {groups} group(s) is not a multiple of PE={pe} a group; "
            "pick PE dividing OUT/GROUPS"
        )


def mvu_cycles(K: int, OUT: int, PE: int, SIMD: int, vectors: int = 1) -> int:  # noqa: N803
    """Cycles af_mvu takes for ``vectors`` input vectors, input always valid, output ready.

    Counted from the first input transfer to the last output transfer, both included:
    each vector occupies the issue stage for ``(OUT/PE) * (K/SIMD)`` cycles (the first
    neuron fold reads the stream, the others replay the buffer), plus the pipeline depth.
    A grouped MVU's "vector" here is a pixel: GROUPS input vectors of ``K`` taps, each
    ``(OUT/GROUPS/PE) * (K/SIMD)`` cycles, the same total.
    """
    check_fold(K, OUT, PE, SIMD)
    return vectors * (OUT // PE) * (K // SIMD) + MVU_LATENCY


@dataclass(frozen=True)
class MvuConfig:
    """One af_mvu instance: ``y[o] = sum_k f(x[k], w[o, k])`` with ``PE x SIMD`` lanes.

    ``groups`` > 1: a grouped convolution. ``k`` is one group's taps, ``w`` is ``[OUT, K]``
    (row ``o`` belongs to group ``o // (OUT/groups)``), and each pixel brings ``groups``
    input vectors, vector ``j`` meeting group ``j``'s rows only."""

    mode: str
    bits: int
    k: int
    out: int
    pe: int = 1
    simd: int = 1
    acc_bits: int | None = None  # None: the contract's bound for K terms
    groups: int = 1

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown PE mode {self.mode!r}; valid modes: {', '.join(MODES)}")
        if self.mode == "xnor":
            if self.bits not in (1, BINARY_CODE_BITS):
                raise ConfigError(
                    f"xnor PEs take 1-bit lanes (bits) or 2-bit lanes (codes -1/+1/0), "
                    f"got bits={self.bits}"
                )
        else:
            check_bits(self.bits, f"{self.mode} MVU bit width")
        check_fold(self.k, self.out, self.pe, self.simd, self.groups)
        need = pe_acc_bits(self.mode, self.bits, self.k)
        if self.acc_bits is None:
            object.__setattr__(self, "acc_bits", need)
        elif self.acc_bits < need:
            raise ConfigError(
                f"MVU acc_bits={self.acc_bits} is below the {need} bits {self.k} "
                f"{self.bits}-bit {self.mode} terms need; accumulators must never wrap"
            )

    @property
    def sf(self) -> int:
        """Input beats per vector (synapse fold)."""
        return self.k // self.simd

    @property
    def nf(self) -> int:
        """Output beats per input vector (neuron fold)."""
        return self.out // (self.pe * self.groups)

    @property
    def in_bits(self) -> int:
        return self.simd * self.bits

    @property
    def out_word_bits(self) -> int:
        return self.pe * self.acc_bits

    @property
    def weight_bits(self) -> int:
        """Weight lane width: xnor weights are single bits (1 codes +1) at any input width."""
        return 1 if self.mode == "xnor" else self.bits

    @property
    def weight_word_bits(self) -> int:
        return self.pe * self.simd * self.weight_bits

    def parameters(self, weight_file: str = "weights.hex") -> dict[str, object]:
        """HDL parameters of af_mvu (render them with ``hdl_literal``)."""
        return {
            "MODE": self.mode,
            "BITS": self.bits,
            "K": self.k,
            "OUT": self.out,
            "PE": self.pe,
            "SIMD": self.simd,
            **({"GROUPS": self.groups} if self.groups > 1 else {}),
            "ACC_BITS": self.acc_bits,
            "WEIGHT_FILE": weight_file,
        }

    def cycles(self, vectors: int = 1) -> int:
        """``vectors`` pixels (``groups`` input vectors each)."""
        return mvu_cycles(self.k, self.out, self.pe, self.simd, vectors)

    def _codes(self, values: np.ndarray, what: str) -> np.ndarray:
        if self.mode == "xnor" and (what == "weight" or self.bits == 1):
            return bipolar_to_bits(values, what)
        if self.mode == "xnor":
            return binary_codes(values, what)
        return np.asarray(values, dtype=np.int64)

    @property
    def _signed_inputs(self) -> bool:
        # 1-bit xnor lanes are bits (1 codes +1); every other lane is two's complement.
        return not (self.mode == "xnor" and self.bits == 1)

    def weight_words(self, w: np.ndarray) -> list[int]:
        """ROM words for ``w[OUT, K]``: word ``n*SF + s``, PE ``p``, lane ``i`` holds
        ``w[n*PE + p, s*SIMD + i]`` at bits ``[(p*SIMD + i)*WB +: WB]`` (``weight_bits``)."""
        w = np.asarray(w)
        if w.shape != (self.out, self.k):
            raise ConfigError(f"MVU weights have shape {w.shape}, expected {(self.out, self.k)}")
        codes = self._codes(w, "weight")
        # [NF, PE, SF, SIMD] -> [NF, SF, PE, SIMD] -> one row of PE*SIMD lanes per word
        # (NF over all groups: the groups' blocks follow each other).
        nf = self.out // self.pe
        tiles = codes.reshape(nf, self.pe, self.sf, self.simd).transpose(0, 2, 1, 3)
        return pack_lanes(
            tiles.reshape(nf * self.sf, self.pe * self.simd),
            self.weight_bits,
            signed=self.mode != "xnor",
            what="weight",
        )

    def write_weights(self, path: str | os.PathLike, w: np.ndarray) -> Path:
        """Write the weight ROM's ``$readmemh`` file for ``w[OUT, K]``."""
        note = f"af_mvu {self.mode} OUT={self.out} K={self.k} PE={self.pe} SIMD={self.simd}"
        return write_memh(path, self.weight_words(w), self.weight_word_bits, note)

    def input_words(self, x: np.ndarray) -> list[int]:
        """Stream beats for ``x[N, K]``: beat ``s`` of a vector holds ``x[s*SIMD + i]``
        (grouped: ``N`` = pixels × groups, the groups of a pixel in order)."""
        x = np.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.k:
            raise ConfigError(f"MVU input has shape {x.shape}, expected (N, {self.k})")
        codes = self._codes(x, "input")
        return pack_lanes(
            codes.reshape(-1, self.simd), self.bits, signed=self._signed_inputs, what="input"
        )

    def output_values(self, words: Sequence[int]) -> np.ndarray:
        """Output beats back to ``y[N, OUT]`` (beat ``n`` holds channels ``n*PE + p``)."""
        if len(words) % (self.out // self.pe):
            raise ConfigError(
                f"{len(words)} output beats is not a multiple of OUT/PE={self.out // self.pe}"
            )
        lanes = [unpack_lanes(word, self.pe, self.acc_bits) for word in words]
        return np.concatenate(lanes).reshape(-1, self.out)
