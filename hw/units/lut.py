"""af_lut: a lane-wise table lookup (a nonlinearity such as a sigmoid gate), its table
ROM file, cycle formula and handshake model."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adderflow.errors import ConfigError
from adderflow.fixed import MAX_LUT_BITS, check_bits, table_lookup
from adderflow.hw.units.lanes import frame_lanes, frame_words, pack_lanes, write_memh

# registered ROM read -> output slice
LUT_LATENCY = 2
LUT_SOURCES = ("af_lut.v", "af_skid.v")


def lut_cycles(beats: int) -> int:
    """Input always valid, output always ready: first input transfer to last output
    transfer inclusive."""
    return beats + LUT_LATENCY


@dataclass(frozen=True)
class LutConfig:
    """One af_lut: ``lanes`` codes a beat, ``in_bits`` in, ``out_bits`` out, the table of
    ``2**in_bits`` entries in a ROM file (``write_table``)."""

    in_bits: int
    out_bits: int
    lanes: int = 1

    def __post_init__(self) -> None:
        check_bits(self.out_bits, "lookup output width")
        if not 2 <= self.in_bits <= MAX_LUT_BITS:
            raise ConfigError(f"lookup input width {self.in_bits} is outside 2..{MAX_LUT_BITS}")
        if self.lanes < 1:
            raise ConfigError(f"lookup lanes must be positive, got {self.lanes}")

    def parameters(self, table_file: str = "table.hex") -> dict[str, object]:
        return {
            "LANES": self.lanes,
            "IN_BITS": self.in_bits,
            "OUT_BITS": self.out_bits,
            "TABLE_FILE": table_file,
        }

    def cycles(self, beats: int) -> int:
        return lut_cycles(beats)

    def table_words(self, table: np.ndarray) -> list[int]:
        """ROM words: entry ``j`` (the code ``j - 2**(in_bits-1)``'s value), two's complement."""
        t = np.asarray(table)
        if t.dtype.kind not in "iu" or t.shape != (1 << self.in_bits,):
            raise ConfigError(
                f"lookup table of {t.dtype} {list(t.shape)}, expected {1 << self.in_bits} "
                "integer entries"
            )
        return pack_lanes(t.astype(np.int64)[:, None], self.out_bits, what="lookup table entry")

    def write_table(self, path: str | os.PathLike, table: np.ndarray) -> Path:
        note = f"af_lut IN_BITS={self.in_bits}"
        return write_memh(path, self.table_words(table), self.out_bits, note)

    def input_words(self, x: np.ndarray) -> list[int]:
        """Beats of frames ``x[N, C, H, W]`` (C a multiple of lanes), stream order."""
        return frame_words(x, self.lanes, self.in_bits, "lookup input")

    def expected_beats(self, x: np.ndarray, table: np.ndarray) -> np.ndarray:
        """The reference output beats: ``fixed.table_lookup`` (the IR's rule)."""
        self.table_words(table)  # its shape and widths, checked
        return frame_lanes(table_lookup(x, table), self.lanes)

    def model(self) -> LutModel:
        return LutModel()


class LutModel:
    """af_lut's control (a ``handshake.GraphUnit``): ``in_ready = !full`` of its slice, a
    ROM read register, then the slice."""

    n_in = n_out = 1
    __slots__ = ("skid", "v1")

    def __init__(self) -> None:
        from adderflow.hw.handshake import Skid  # lazily: handshake may import this module

        self.skid = Skid()
        self.v1 = False

    def out_valid(self, port: int) -> bool:
        return self.skid.valid

    def in_ready(self, port: int, in_valid: list[bool]) -> bool:
        return not self.skid.full

    def step(self, in_valid: list[bool], out_ready: list[bool]) -> None:
        en = not self.skid.full
        self.skid.step(self.v1, out_ready[0])
        if en:
            self.v1 = in_valid[0]
