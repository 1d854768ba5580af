"""Verilator-only clock gating of a generated network's units.

A unit's registers change only when it takes a word, holds work or offers a word that is
taken. Each gated unit says when none of that can happen at the next rising edge with its
inputs' valids low: its ``af_idle`` wire, defined under ``ifdef VERILATOR`` in its own
source (hw/rtl). The top then gives the unit its own clock, ``clk`` while
``rst || <input valids> || !af_idle`` and held low otherwise. Skipping an edge on which no
register would change changes nothing, so every cycle's state, output and latency are those
of the ungated network; but Verilator evaluates a clock domain's logic only on that
domain's edges, so a serial network, where one layer works at a time, costs the simulation
little more than its busy units. The enable is latched while ``clk`` is low (the usual
clock-gating cell) so it cannot glitch the clock when the registers it reads change after
the edge. Synthesis and Icarus read the ``else`` branch: the plain ``clk``.
"""

from __future__ import annotations

# the units whose sources define af_idle (hw/rtl); any other unit gets the plain clock
GATED = frozenset({"af_window", "af_mvu", "af_requant", "af_add", "af_fork", "af_fifo"})


Unit = tuple[str, str, list[str]]  # module, instance name, its input valid wires


def stage_clock(stage: str, units: list[Unit]) -> tuple[list[str], str]:
    """The lines declaring the clock of a stage's ``units`` and the clock's name: one clock
    for the stage (fewer clock domains, fewer triggers for Verilator to check each edge),
    running while any unit has a valid input or is not idle; ``clk`` when a unit is not
    gated."""
    if not units or any(module not in GATED for module, _, _ in units):
        return [], "clk"
    valids = list(dict.fromkeys(v for _, _, vs in units for v in vs))
    busy = [f"!{instance}.af_idle" for _, instance, _ in units]
    enable = " || ".join(["rst", *valids, *busy])
    clock = f"{stage}_clk"
    return [
        "`ifdef VERILATOR",
        f"    wire {stage}_en /*verilator public_flat_rd*/ = {enable};",
        f"    reg {stage}_en_l;",
        "    /* verilator lint_off LATCH */",
        f"    always @(*) if (!clk) {stage}_en_l = {stage}_en;",
        "    /* verilator lint_on LATCH */",
        f"    wire {clock} = clk && {stage}_en_l;",
        "`else",
        f"    wire {clock} = clk;",
        "`endif",
    ], clock
