"""af_add: the residual add, lane-wise ``(a << shift_a) + (b << shift_b)``,
exact; its config, reference, cycle formula and handshake model."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adderflow.errors import ConfigError
from adderflow.fixed import MAX_PRODUCT_BITS, MAX_SHIFT
from adderflow.hw.units.lanes import pack_lanes, unpack_lanes

# The sum goes straight into the output slice: a pair taken at edge t is offered from t+1.
ADD_LATENCY = 1
ADD_SOURCES = ("af_add.v", "af_skid.v")


def add_cycles(beats: int) -> int:
    """Cycles af_add takes for ``beats`` beat pairs, both inputs always valid and the output
    always ready: from the first input transfer to the last output transfer, inclusive."""
    if beats < 1:
        raise ConfigError(f"add: {beats} beats; a stream has at least one")
    return beats + ADD_LATENCY


def add_sum_bits(a_bits: int, b_bits: int, shift_a: int, shift_b: int) -> int:
    """Signed width of every ``(a << shift_a) + (b << shift_b)``: the most negative sum,
    ``-2**(a_bits-1+shift_a) - 2**(b_bits-1+shift_b)``, needs one bit over the wider
    term (``sim.ops.int_add.sum_bits`` of the IR, in closed form)."""
    return max(a_bits + shift_a, b_bits + shift_b) + 1


@dataclass(frozen=True)
class AddConfig:
    """One af_add instance: ``lanes`` lanes of ``a_bits``- and ``b_bits``-bit codes in,
    ``out_bits``-bit sums out (the IR's ``out_bits``, at least ``add_sum_bits``)."""

    lanes: int
    a_bits: int
    b_bits: int
    shift_a: int
    shift_b: int
    out_bits: int

    def __post_init__(self) -> None:
        if self.lanes < 1:
            raise ConfigError(f"add: {self.lanes} lanes; it needs at least one")
        for name in ("a_bits", "b_bits"):
            if not 2 <= getattr(self, name) <= 16:
                raise ConfigError(f"add: {name} {getattr(self, name)} is outside 2..16 (codes)")
        for name in ("shift_a", "shift_b"):
            if not 0 <= getattr(self, name) <= MAX_SHIFT:
                raise ConfigError(f"add: {name} {getattr(self, name)} is outside 0..{MAX_SHIFT}")
        need = add_sum_bits(self.a_bits, self.b_bits, self.shift_a, self.shift_b)
        if not need <= self.out_bits <= MAX_PRODUCT_BITS:
            raise ConfigError(
                f"add: out_bits {self.out_bits} is outside {need}..{MAX_PRODUCT_BITS}: "
                f"{self.a_bits}- and {self.b_bits}-bit operands shifted by "
                f"[{self.shift_a}, {self.shift_b}] reach {need} bits (the add is exact)"
            )

    def parameters(self) -> dict[str, object]:
        """HDL parameters of af_add (render them with ``hdl_literal``)."""
        return {
            "LANES": self.lanes,
            "A_BITS": self.a_bits,
            "B_BITS": self.b_bits,
            "SHIFT_A": self.shift_a,
            "SHIFT_B": self.shift_b,
            "OUT_BITS": self.out_bits,
        }

    def cycles(self, beats: int) -> int:
        return add_cycles(beats)

    def reference(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """The exact sums (``reference.int_add``'s rule), int64: ``out_bits <= 52``."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        if a.shape != b.shape:
            raise ConfigError(f"add: operands of shapes {a.shape} and {b.shape} differ")
        return (a << self.shift_a) + (b << self.shift_b)

    def input_words(self, a: np.ndarray, b: np.ndarray) -> tuple[list[int], list[int]]:
        """Stream beats of both operands (``[beats, lanes]`` codes each)."""
        a, b = np.asarray(a, dtype=np.int64), np.asarray(b, dtype=np.int64)
        for name, x in (("a", a), ("b", b)):
            if x.ndim != 2 or x.shape[1] != self.lanes:
                want = f"(beats, {self.lanes})"
                raise ConfigError(f"add: {name} has shape {x.shape}, expected {want}")
        return (
            pack_lanes(a, self.a_bits, what="add operand a"),
            pack_lanes(b, self.b_bits, what="add operand b"),
        )

    def output_values(self, words: list[int]) -> np.ndarray:
        """Output beats back to sums ``[beats, lanes]``."""
        rows = [unpack_lanes(w, self.lanes, self.out_bits) for w in words]
        return np.array(rows, dtype=np.int64).reshape(-1, self.lanes)


class AddModel:
    """af_add's handshake (control state only): a join in front of one af_skid.

    A graph node (``hw/handshake.py``'s protocol) with two inputs: port 0 (a) is ready
    when the slice's registered ``!full`` holds and b is valid, port 1 (b) likewise with
    a, so both transfer in the same cycle or neither does.
    """

    __slots__ = ("n_in", "n_out", "slice")

    def __init__(self) -> None:
        # Imported here: hw/handshake.py may import this module (a graph node kind).
        from adderflow.hw.handshake import Skid

        self.n_in, self.n_out = 2, 1
        self.slice = Skid()

    def out_valid(self, port: int) -> bool:
        return self.slice.valid

    def in_ready(self, port: int, in_valid: list[bool]) -> bool:
        return not self.slice.full and in_valid[1 - port]

    def step(self, in_valid: list[bool], out_ready: list[bool]) -> None:
        take = in_valid[0] and in_valid[1] and not self.slice.full
        self.slice.step(take, out_ready[0])
