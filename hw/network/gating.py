"""Verilator-only clock gating of a generated network's stages.

A unit's registers change only when it takes a word, holds work or offers a word that is
taken. Each gated unit says when none of that can happen at the next rising edge with its
inputs' valids low: its ``af_idle`` wire, defined under ``ifdef VERILATOR`` in its own
source (hw/rtl). The top gives each group of units (a layer's window, MVU and post unit,
with the residual add and requantizer it feeds and the fork and FIFOs that carry their
output on; see ``verilog._group``) one clock, ``clk`` while ``rst``, a unit's input valid or
a unit that is not idle says so, and held low otherwise. Skipping an edge on which no
register would change changes nothing: every cycle's state, output and latency are the
ungated network's. But Verilator evaluates a clock domain's logic only on that domain's
edges, so a network where a few layers work at a time costs the simulation little more than
its busy units (docs/benchmarks.md, RTL simulation throughput). The enable is latched while
``clk`` is low, as in a clock-gating cell, so it cannot glitch the clock when the registers
it reads change after the edge.

Synthesis and Icarus read the ``else`` branch: every group's clock is ``clk``.
"""

from __future__ import annotations

# the units whose sources define af_idle (hw/rtl); a group with any other unit runs on clk
GATED = frozenset(
    {"af_window", "af_mvu", "af_requant", "af_add", "af_fork", "af_fifo", "af_skid"}
)

Unit = tuple[str, str, list[str]]  # module, instance name, its input valid wires


class StageClocks:
    """The clock groups of one top module: ``join`` as its units are rendered, then
    ``declarations`` before the first unit and ``enables`` after the last."""

    def __init__(self) -> None:
        self._groups: dict[str, list[Unit]] = {}

    def join(self, group: str, units: list[Unit]) -> str:
        """Put ``units`` on ``group``'s clock; the clock's wire name."""
        self._groups.setdefault(group, []).extend(units)
        return f"{group}_clk"

    def declarations(self) -> list[str]:
        if not self._groups:
            return []
        names = [f"{group}_clk" for group in self._groups]
        return [
            "",
            "    // one clock per group of units (adderflow.hw.network.gating)",
            "`ifdef VERILATOR",
            *[f"    wire {name};" for name in names],
            "`else",
            *[f"    wire {name} = clk;" for name in names],
            "`endif",
        ]

    def enables(self) -> list[str]:
        if not self._groups:
            return []
        lines = ["", "`ifdef VERILATOR"]
        for group, units in self._groups.items():
            lines += _enable(group, units)
        return [*lines, "`endif"]


def _enable(group: str, units: list[Unit]) -> list[str]:
    if any(module not in GATED for module, _, _ in units):
        return [f"    assign {group}_clk = clk;"]
    valids = list(dict.fromkeys(v for _, _, vs in units for v in vs))
    busy = [f"!{instance}.af_idle" for _, instance, _ in units]
    # public: computed where its inputs change, not again in every clk-low evaluation
    return [
        f"    wire {group}_en /*verilator public_flat_rd*/ = "
        + " ||\n        ".join(["rst", *valids, *busy])
        + ";",
        f"    reg {group}_en_l;",
        "    /* verilator lint_off LATCH */",
        f"    always @(*) if (!clk) {group}_en_l = {group}_en;",
        "    /* verilator lint_on LATCH */",
        f"    assign {group}_clk = clk && {group}_en_l;",
    ]
