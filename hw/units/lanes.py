"""Stream words and ``$readmemh`` memory files: lanes packed lane 0 in the least
significant bits, two's complement; the per-channel stream after an MVU."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from adderflow.atomic import atomic_write_text
from adderflow.errors import ConfigError


def pack_lanes(
    values: np.ndarray, bits: int, signed: bool = True, what: str = "value"
) -> list[int]:
    """Pack the last axis of ``values`` into one word per row, lane 0 in the low bits.

    Each lane is ``bits`` wide, two's complement when ``signed`` (else unsigned). A value
    that does not fit is refused, naming ``what``. Words are Python ints (any width).
    """
    v = np.asarray(values, dtype=np.int64)
    if v.ndim == 1:
        v = v[None, :]
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if v.size and (v.min() < lo or v.max() > hi):
        bad = v[(v < lo) | (v > hi)][0]
        raise ConfigError(f"{what} {int(bad)} does not fit {bits}-bit lanes [{lo}, {hi}]")
    mask = (1 << bits) - 1
    words = []
    for row in v.reshape(-1, v.shape[-1]):
        word = 0
        for lane, value in enumerate(row.tolist()):
            word |= (int(value) & mask) << (lane * bits)
        words.append(word)
    return words


def unpack_lanes(word: int, lanes: int, bits: int, signed: bool = True) -> np.ndarray:
    """Inverse of ``pack_lanes`` for one word: ``lanes`` values as int64."""
    mask = (1 << bits) - 1
    out = np.empty(lanes, dtype=np.int64)
    for lane in range(lanes):
        value = (int(word) >> (lane * bits)) & mask
        if signed and value >> (bits - 1):
            value -= 1 << bits
        out[lane] = value
    return out


def write_memh(path: str | os.PathLike, words: Sequence[int], width: int, note: str = "") -> Path:
    """Write ``words`` for ``$readmemh``: one zero-padded hex word per line, atomically.

    The first line is a ``//`` comment (accepted by Icarus, Verilator and yosys) naming
    the width, depth and ``note``.
    """
    path = Path(path)
    digits = max(1, -(-width // 4))
    limit = 1 << width
    lines = [f"// adderflow memh: {len(words)} words x {width} bits{'; ' + note if note else ''}"]
    for i, word in enumerate(words):
        if not 0 <= word < limit:
            raise ConfigError(f"{path}: word {i} = {word} does not fit {width} bits")
        lines.append(f"{word:0{digits}x}")
    return atomic_write_text(path, "\n".join(lines) + "\n")


def read_memh(path: str | os.PathLike) -> list[int]:
    """Words of a memory file written by ``write_memh`` (comments and blanks skipped)."""
    words = []
    for line in Path(path).read_text().splitlines():
        text = line.split("//", 1)[0].strip()
        if text:
            words.append(int(text, 16))
    return words


def bipolar_to_bits(values: np.ndarray, what: str = "value") -> np.ndarray:
    """{-1, +1} codes to the xnor PE's bits (1 codes +1, 0 codes -1; DESIGN.md rule 6)."""
    v = np.asarray(values, dtype=np.int64)
    if not np.all((v == 1) | (v == -1)):
        raise ConfigError(f"xnor {what}s must be -1 or +1")
    return (v > 0).astype(np.int64)


def binary_codes(values: np.ndarray, what: str = "value") -> np.ndarray:
    """Binary stream codes: -1, +1, or 0 for a padded tap that does not vote."""
    v = np.asarray(values, dtype=np.int64)
    if not np.all((v == 1) | (v == -1) | (v == 0)):
        raise ConfigError(f"binary {what}s must be -1, +1 or 0 (padding)")
    return v


class ChannelStream:
    """The stream of a unit after an MVU: beat ``c`` carries channels ``c·PE + p``,
    accumulators in, ``out_bits`` codes out (af_requant, af_threshold)."""

    unit: ClassVar[str]
    ch: int
    pe: int
    acc_bits: int

    def input_words(self, acc: np.ndarray) -> list[int]:
        """Stream beats for accumulators ``acc[N, CH]``."""
        acc = np.asarray(acc, dtype=np.int64)
        if acc.ndim != 2 or acc.shape[1] != self.ch:
            raise ConfigError(f"{self.unit} input has shape {acc.shape}, expected (N, {self.ch})")
        return pack_lanes(acc.reshape(-1, self.pe), self.acc_bits, what="accumulator")

    def output_values(self, words: Sequence[int]) -> np.ndarray:
        """Output beats back to codes ``[N, CH]``."""
        bits = self.out_bits  # type: ignore[attr-defined]
        lanes = [unpack_lanes(word, self.pe, bits) for word in words]
        return np.concatenate(lanes).reshape(-1, self.ch)


def frame_lanes(x: np.ndarray, lanes: int, what: str = "frame") -> np.ndarray:
    """Frames ``x[N, C, H, W]`` in stream order, one row a beat: pixels in raster order,
    at each pixel the channels in groups of ``lanes`` (beat ``g``: channels ``g·lanes + i``)."""
    x = np.asarray(x, dtype=np.int64)
    if x.ndim != 4 or x.shape[1] % lanes:
        raise ConfigError(
            f"{what} has shape {list(x.shape)}: expected [N, C, H, W] with C a multiple of "
            f"{lanes} lanes"
        )
    return x.transpose(0, 2, 3, 1).reshape(-1, lanes)


def frame_words(x: np.ndarray, lanes: int, bits: int, what: str = "frame") -> list[int]:
    """Stream beats of frames ``x[N, C, H, W]`` (``frame_lanes``), ``bits`` a lane."""
    return pack_lanes(frame_lanes(x, lanes, what), bits, what=what)
