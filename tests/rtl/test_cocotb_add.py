"""af_add against ``(a << shift_a) + (b << shift_b)`` (``reference.int_add``'s rule), bit
for bit, and its handshake model (``units.add.AddModel``) against the RTL, cycle for cycle.

The two inputs have independent random gaps (the join must wait for the later one) and the
output random back-pressure. Data per set: all-max and all-min operand pairs and the two
mixed extremes first, then random codes; one set has the exact contract width, the other
the largest shift (40) and the widest sum (52 bits). The mutation check runs the same
RTL against a reference whose b shift is one less: the bench must fail.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import ports
import pytest
from ports import PORT_TESTS as TESTS
from ports import ports_full_rate, ports_under_pressure  # noqa: F401 (cocotb finds them here)

from adderflow.hw.rtlgen import pack_lanes, rtl_sources
from adderflow.hw.units.add import ADD_SOURCES, AddConfig, AddModel
from adderflow.sim import reference

CONFIGS = {
    # 8- and 4-bit operands aligned by [0, 3] into the exact 9 bits (docs/ir.md's example)
    "l4-8+4s3": AddConfig(lanes=4, a_bits=8, b_bits=4, shift_a=0, shift_b=3, out_bits=9),
    # the largest shift and the widest sum the contract allows
    "l2-max": AddConfig(lanes=2, a_bits=11, b_bits=16, shift_a=40, shift_b=0, out_bits=52),
}


def operands(cfg: AddConfig, beats: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    lo_a, hi_a = -(1 << (cfg.a_bits - 1)), (1 << (cfg.a_bits - 1)) - 1
    lo_b, hi_b = -(1 << (cfg.b_bits - 1)), (1 << (cfg.b_bits - 1)) - 1
    a = rng.integers(lo_a, hi_a, size=(beats, cfg.lanes), endpoint=True)
    b = rng.integers(lo_b, hi_b, size=(beats, cfg.lanes), endpoint=True)
    a[0], b[0] = hi_a, hi_b  # the largest sum
    a[1], b[1] = lo_a, lo_b  # the most negative sum: needs every bit of out_bits
    a[2], b[2] = hi_a, lo_b
    a[3], b[3] = lo_a, hi_b
    return a, b


def case(run_dir: Path, cfg: AddConfig, wrong: AddConfig | None = None, seed: int = 6) -> Path:
    """Case file; ``wrong``: the reference's config (a mutation), else ``cfg``'s."""
    a, b = operands(cfg, 100, seed)
    ref = wrong or cfg
    sums = ref.reference(a, b)
    if wrong is None:  # the unit's reference is the IR's
        shifts = (cfg.shift_a, cfg.shift_b)
        assert np.array_equal(sums, reference.int_add(a, b, shifts))
    wa, wb = cfg.input_words(a, b)
    out = pack_lanes(sums, cfg.out_bits, what="sum")

    def sc(n, pressure, cycles=None):
        name = "pressure" if pressure else "full_rate"
        return ports.scenario({"a": wa[:n], "b": wb[:n]}, [out[:n]], cfg.lanes * cfg.out_bits,
                        cfg.lanes, cfg.out_bits, run_dir / f"trace-{name}.json", seed,
                        pressure, cycles)  # fmt: skip

    return ports.write_case(run_dir, sc(len(out), True), sc(24, False, cfg.cycles(24)))


def build(hdl, sim: str, cfg: AddConfig):
    return hdl.build(sim, "af_add", rtl_sources(ADD_SOURCES), cfg.parameters())


@pytest.mark.parametrize("name", CONFIGS)
def test_add_matches_reference_and_model(hdl, sim, name, tmp_path):
    cfg = CONFIGS[name]
    path = case(tmp_path, cfg)
    hdl.assert_passed(hdl.run(build(hdl, sim, cfg), "test_cocotb_add", tmp_path, path), TESTS)
    for trace in ("pressure", "full_rate"):
        assert ports.replay(AddModel(), tmp_path / f"trace-{trace}.json") > 20


def test_add_detects_a_wrong_shift(hdl, sim, tmp_path):
    """Against a reference with b shifted by one less, both scenarios must fail."""
    cfg = CONFIGS["l4-8+4s3"]
    wrong = AddConfig(cfg.lanes, cfg.a_bits, cfg.b_bits, cfg.shift_a, cfg.shift_b - 1,
                      cfg.out_bits)  # fmt: skip
    path = case(tmp_path, cfg, wrong)
    outcomes = hdl.run(build(hdl, sim, cfg), "test_cocotb_add", tmp_path, path)
    for name in TESTS:
        assert not outcomes[name].passed, name
        assert "mismatch at output 0 beat" in outcomes[name].message
