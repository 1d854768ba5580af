"""Energy per operation and per memory access: the table, its lookups and interpolation.

The default table is Horowitz (ISSCC 2014), 45 nm, shipped as ``energy_45nm.yaml``; users
pass their own YAML. Integer widths missing from a table are interpolated (additions
linearly in bits, multiplications quadratically) and every lookup says whether it was.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from adderflow.errors import ConfigError, require_file

_WIDTH = re.compile(r"^(int|fp|bf)(\d+)$")
# Costed 0 pJ unless a table prices them: abs is the accumulator's add/subtract select (a
# carry-in and inverters), a shift by a constant is wiring.
FREE_KINDS = ("abs", "shift")
# Priced from the ``add`` row unless a table has a row of their own, each for a reason
# (docs/cost-model.md): a comparator is a subtractor; an XNOR gate is the sum path of a
# one-bit full adder (an upper bound); a K-bit popcount is a counter tree of fewer than K
# full adders, counted as one 1-bit addition per input bit; a table lookup is a read of a
# small ROM (at most 2**12 entries), no dearer than an addition of the entry's width.
PRICED_AS_ADD = ("cmp", "xnor", "popcount", "lookup")


def parse_width(width: str) -> tuple[str, int]:
    """``"int12" -> ("int", 12)``, ``"fp32" -> ("fp", 32)``; anything else is a ConfigError."""
    m = _WIDTH.match(width) if isinstance(width, str) else None
    if not m or not 1 <= int(m[2]) <= 64:
        raise ConfigError(
            f"unknown precision {width!r}: use intN (1 <= N <= 64) or a float width such as "
            "fp16 or fp32"
        )
    return m[1], int(m[2])


def width_bits(width: str) -> int:
    return parse_width(width)[1]


# --------------------------------------------------------------------------- energy table


@dataclass(frozen=True)
class Lookup:
    """One operation's energy; ``label`` says how an interpolated value was obtained."""

    pj: float
    interpolated: bool = False
    label: str = ""


@dataclass(frozen=True)
class EnergyTable:
    """Energy per operation (pJ) by kind and width, and per 64-bit memory access by level."""

    ops: Mapping[str, Mapping[str, float]]
    memory: Mapping[str, float]
    source: str = ""
    origin: str = "<built-in>"

    def op_energy(self, kind: str, width: str) -> Lookup:
        """Energy of one ``kind`` op at ``width``; integer widths not in the table are
        interpolated (add-like linearly, mul quadratically in bits) and labelled."""
        if kind not in self.ops:
            if kind in FREE_KINDS:
                return Lookup(0.0)  # sign flip folded into the accumulator; wiring
            if kind not in PRICED_AS_ADD:
                raise ConfigError(f"energy table {self.origin} has no '{kind}' operations")
            kind_row = "add"
        else:
            kind_row = kind
        row = self.ops[kind_row]
        if width in row:
            value = float(row[width])
            if kind_row != kind and kind != "cmp":  # a derived price is always labelled
                return Lookup(value, True, f"{kind} {width}: priced as add {width}")
            return Lookup(value)
        family, bits = parse_width(width)
        if family != "int":
            floats = ", ".join(w for w in row if not w.startswith("int")) or "none"
            raise ConfigError(
                f"energy table {self.origin} has no '{kind_row}' energy for {width} and float "
                f"widths are not interpolated (it has: {floats})"
            )
        lookup = _interpolate(kind, row, bits, power=2 if kind_row == "mul" else 1, table=self)
        if kind_row != kind and kind != "cmp":
            name, how = lookup.label.split(": ", 1)
            return replace(lookup, label=f"{name}: priced as add, {how}")
        return lookup

    def memory_pj(self, level: str, accesses: int) -> float:
        if level not in self.memory:
            raise ConfigError(
                f"memory level {level!r} is not in energy table {self.origin} "
                f"(it has: {', '.join(self.memory) or 'none'})"
            )
        return accesses * float(self.memory[level])

    def arith_pj(self, ops: Mapping[str, Mapping[str, int]]) -> float:
        """Energy of a bag of operations, e.g. ``{"mul": {"fp32": n}, "add": {"fp32": n}}``."""
        return sum(
            n * self.op_energy(kind, width).pj
            for kind, by_width in ops.items()
            for width, n in by_width.items()
        )


def _interpolate(kind: str, row: Mapping[str, float], bits: int, power: int, table) -> Lookup:
    points = sorted(
        (parse_width(w)[1], float(e)) for w, e in row.items() if parse_width(w)[0] == "int"
    )
    if not points:
        raise ConfigError(f"energy table {table.origin} has no integer widths for '{kind}'")
    lower = [p for p in points if p[0] < bits]
    upper = [p for p in points if p[0] > bits]
    law = "linear" if power == 1 else "quadratic"
    if lower and upper:
        (b0, e0), (b1, e1) = lower[-1], upper[0]
        t = (bits**power - b0**power) / (b1**power - b0**power)
        pj, how = e0 + t * (e1 - e0), f"{law} in bits between int{b0} and int{b1}"
    else:
        b0, e0 = upper[0] if upper else lower[-1]
        pj, how = e0 * (bits / b0) ** power, f"scaled {law} in bits from int{b0}"
    return Lookup(pj, True, f"{kind} int{bits}: {how}")


def _positive(value, origin: str, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ConfigError(
            f"energy table {origin}: key '{key}' must be a non-negative number of pJ, got {value!r}"
        )
    return float(value)


def _mapping(value, origin: str, key: str) -> dict:
    if not isinstance(value, dict) or not value:
        raise ConfigError(f"energy table {origin}: key '{key}' must be a non-empty mapping")
    return value


def parse_energy_table(data, origin: str = "<dict>") -> EnergyTable:
    """Validate a table given as data (what the YAML file holds), naming the bad key."""
    data = _mapping(data, origin, "<top level>")
    unknown = sorted(set(data) - {"source", "ops", "memory_per_64bit"})
    if unknown:
        raise ConfigError(
            f"energy table {origin}: unknown key '{unknown[0]}' "
            "(known: source, ops, memory_per_64bit)"
        )
    ops: dict[str, dict[str, float]] = {}
    for kind, row in _mapping(data.get("ops"), origin, "ops").items():
        ops[kind] = {}
        for width, value in _mapping(row, origin, f"ops.{kind}").items():
            try:
                parse_width(str(width))
            except ConfigError:
                raise ConfigError(
                    f"energy table {origin}: key 'ops.{kind}.{width}' is not a width (intN or fpN)"
                ) from None
            ops[kind][str(width)] = _positive(value, origin, f"ops.{kind}.{width}")
    for needed in ("add", "mul"):
        if needed not in ops:
            raise ConfigError(f"energy table {origin}: key 'ops.{needed}' is missing")
    memory = {
        str(level): _positive(value, origin, f"memory_per_64bit.{level}")
        for level, value in (data.get("memory_per_64bit") or {}).items()
    }
    return EnergyTable(ops, memory, str(data.get("source", "")), origin)


def load_energy_table(path: str | Path | None = None) -> EnergyTable:
    """A user's YAML table, or the default 45 nm table (package data) when ``path`` is None."""
    if path is None:
        return default_energy_table()
    path = require_file(path, "energy table", ConfigError)
    try:
        data = yaml.safe_load(path.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"energy table {path} is not valid YAML: {first}") from exc
    return parse_energy_table(data, str(path))


@lru_cache(maxsize=1)
def default_energy_table() -> EnergyTable:
    resource = resources.files("adderflow.sim") / "energy_45nm.yaml"
    return parse_energy_table(yaml.safe_load(resource.read_text()), "energy_45nm.yaml")
