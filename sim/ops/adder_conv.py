"""``AdderConv``: ``acc = -sum |x - w|`` over each padded window (DESIGN.md rules 2-3)."""

from adderflow.sim import reference
from adderflow.sim.ops.layer import WindowOp


class AdderConv(WindowOp):
    arithmetic = "adder"
    compute = staticmethod(reference.adder_conv)
