"""The two cocotb tests every stream unit's bench runs (imported into each bench module).

cocotb discovers tests among a module's names, imported ones included, so each
``test_cocotb_*.py`` of a ready/valid unit imports these rather than repeating them. The
case file (``+case=``) holds a ``pressure`` and a ``full_rate`` scenario for ``run_stream``.
"""

from __future__ import annotations

import cocotb
from benches import load_case, run_stream


@cocotb.test()
async def stream_under_pressure(dut):
    """Random input gaps and output back-pressure: every output beat must match."""
    await run_stream(dut, load_case()["pressure"])


@cocotb.test()
async def stream_full_rate(dut):
    """Input always valid, output always ready: beats and the cycle model must match."""
    await run_stream(dut, load_case()["full_rate"])


STREAM_TESTS = {"stream_under_pressure", "stream_full_rate"}
