"""What every RTL unit module shares: where the Verilog sources are, the stream's binary
code width, and HDL parameter literals. Torch-free, NumPy only."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from adderflow.errors import ConfigError

RTL_DIR = Path(__file__).resolve().parents[1] / "rtl"

# Requantizer outputs feed the next layer as codes (2..16 bits, fixed.check_bits), except
# the last layer's logits, which keep the accumulator's width plus the bias.
MAX_OUT_BITS = 48

# Binary activations travel as 2-bit signed codes: +1 = 01, -1 = 11, and 0 = 00 only as
# af_window's padding, which the xnor PE does not count (docs/ir.md: padding does not vote).
BINARY_CODE_BITS = 2


def rtl_sources(names: Iterable[str]) -> list[Path]:
    """Paths of the named Verilog files under ``hw/rtl``; a missing one is an error."""
    paths = [RTL_DIR / name for name in names]
    for path in paths:
        if not path.is_file():
            raise ConfigError(f"RTL source {path} not found")
    return paths


def hdl_literal(value: object) -> str:
    """A Python parameter value as a Verilog literal (strings quoted, ints in decimal)."""
    if isinstance(value, str):
        if '"' in value or "\\" in value:
            raise ConfigError(f"HDL string parameter {value!r} may not hold quotes or '\\'")
        return f'"{value}"'
    if isinstance(value, (bool, np.bool_)):
        return str(int(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    raise ConfigError(f"cannot write {value!r} as a Verilog parameter")
