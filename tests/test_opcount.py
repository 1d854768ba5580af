"""Torch-side op counts: binary layers are XNOR + popcount, never silently multiplications."""

from __future__ import annotations

from torch import nn

from adderflow.nn import AdderConv1d, AdderConv2d
from adderflow.nn.binary import BinaryConv1d, BinaryConv2d
from adderflow.opcount import count_ops


def test_binary_layers_count_xnor_and_popcount():
    model = nn.Sequential(
        BinaryConv2d(1, 4, 3, padding=1, binary_input=False),  # binary weights, real inputs
        BinaryConv2d(4, 8, 3, padding=1),  # binary weights and inputs
        nn.Flatten(),
        nn.Linear(8 * 6 * 6, 10),
    )
    counts = count_ops(model, (1, 6, 6))
    first, hidden, head = 1 * 9 * 4 * 36, 4 * 9 * 8 * 36, 8 * 36 * 10
    assert counts.xnor == counts.popcount == hidden
    assert counts.add == first + head  # a ±1 weight: one add or subtract per term
    assert counts.mul == head
    assert counts.as_dict() == {
        "add": first + head,
        "mul": head,
        "xnor": hidden,
        "popcount": hidden,
    }


def test_one_dimensional_layers_are_counted():
    model = nn.Sequential(
        nn.Conv1d(2, 4, 3), AdderConv1d(4, 4, 3), BinaryConv1d(4, 4, 3), nn.Flatten()
    )
    counts = count_ops(model, (2, 10))
    conv, adder, binary = 2 * 3 * 4 * 8, 4 * 3 * 4 * 6, 4 * 3 * 4 * 4
    assert counts.mul == conv and counts.add == conv + 2 * adder
    assert counts.xnor == binary


def test_adder_convention_unchanged():
    counts = count_ops(nn.Sequential(AdderConv2d(1, 2, 3)), (1, 5, 5))
    assert counts.add == 2 * 9 * 2 * 9 and counts.mul == 0 and counts.xnor == 0
