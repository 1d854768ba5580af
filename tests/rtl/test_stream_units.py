"""The J2 stream units' configurations (sum pool, concat, gate product, lookup): bad
parameters refused naming the problem, and each handshake model's full-rate cycles equal
its cycle formula over a sweep of shapes (the cocotb benches check the models against the
RTL cycle for cycle)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from port_models import model_cycles

from adderflow.errors import AdderflowError
from adderflow.hw.units.concat import ConcatConfig
from adderflow.hw.units.lut import LutConfig
from adderflow.hw.units.mul import MulConfig
from adderflow.hw.units.sumpool import SumPoolConfig


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: SumPoolConfig(4, 3, 3, (3, 3), 8, 11), "need 12..48 bits"),
        (lambda: SumPoolConfig(6, 3, 3, (3, 3), 8, 12, lanes=4), "not a multiple of lanes 4"),
        (lambda: SumPoolConfig(4, 3, 3, (4, 1), 8, 12), "does not fit the frame 3x3"),
        (lambda: SumPoolConfig(4, 3, 3, (3, 3), 17, 24), "sum pool input width 17"),
        (lambda: ConcatConfig(3, 2, 8, lanes=2), "multiples of lanes 2"),
        (lambda: ConcatConfig(2, 2, 17), "concat lane width 17"),
        (lambda: MulConfig(4, 9, 8, 8, 15), "need 16..48 bits"),
        (lambda: MulConfig(6, 9, 8, 8, 16, lanes=4), "multiple of lanes 4"),
        (lambda: LutConfig(13, 8), "lookup input width 13 is outside 2..12"),
        (lambda: LutConfig(4, 8).table_words(np.zeros(8, dtype=np.int64)), "expected 16"),
        (lambda: LutConfig(2, 2).table_words(np.array([0, 1, 2, -2])), "does not fit 2-bit"),
    ],
)
def test_bad_configurations_are_refused_by_name(make, message):
    with pytest.raises(AdderflowError, match=message):
        make()


def test_inputs_of_the_wrong_shape_are_refused():
    with pytest.raises(AdderflowError, match=r"sum pool input has shape \[1, 4, 3, 2\]"):
        SumPoolConfig(4, 3, 3, (3, 3), 8, 12).input_words(np.zeros((1, 4, 3, 2)))
    with pytest.raises(AdderflowError, match="gate product inputs"):
        MulConfig(4, 9, 8, 8, 16).input_words(np.zeros((1, 4, 3, 3)), np.zeros((1, 4, 1, 2)))
    with pytest.raises(AdderflowError, match="concat inputs"):
        ConcatConfig(2, 2, 8).input_words(np.zeros((1, 2, 3, 3)), np.zeros((1, 2, 3, 2)))


SUMPOOL_SWEEP = [
    SumPoolConfig(c, h, w, k, 4, 12, lanes)
    for (c, lanes), (h, w), k in itertools.product(
        [(1, 1), (4, 2), (6, 3)], [(1, 1), (3, 3), (5, 7), (4, 6)], [(1, 1), (2, 2), (1, 3), (3, 2)]
    )
    if k[0] <= h and k[1] <= w
]


@pytest.mark.parametrize("cfg", SUMPOOL_SWEEP, ids=str)
def test_sumpool_model_cycles_equal_formula(cfg):
    for frames in (1, 3):
        beats = frames * cfg.in_beats
        assert model_cycles(cfg.model(), [beats], frames * cfg.out_beats) == cfg.cycles(frames)


@pytest.mark.parametrize(("ca", "cb", "lanes"), [(1, 1, 1), (4, 2, 2), (3, 9, 3), (8, 1, 1)])
def test_concat_model_cycles_equal_formula(ca, cb, lanes):
    cfg = ConcatConfig(ca, cb, 8, lanes)
    ga, gb = cfg.beats
    for pixels in (1, 7):
        got = model_cycles(cfg.model(), [pixels * ga, pixels * gb], pixels * (ga + gb))
        assert got == cfg.cycles(pixels)


@pytest.mark.parametrize(("c", "pixels", "lanes"), [(1, 1, 1), (4, 6, 2), (3, 1, 1), (8, 9, 4)])
def test_mul_model_cycles_equal_formula(c, pixels, lanes):
    cfg = MulConfig(c, pixels, 8, 8, 16, lanes)
    for images in (1, 3):
        beats = [images * pixels * cfg.groups, images * cfg.groups]
        assert model_cycles(cfg.model(), beats, beats[0]) == cfg.cycles(images)
