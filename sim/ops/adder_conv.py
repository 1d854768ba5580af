"""``AdderConv``: ``acc = -sum |x - w|`` over each padded window (DESIGN.md rules 2-3)."""

from adderflow.sim import reference
from adderflow.sim.ops import checks
from adderflow.sim.ops.base import WindowOp


class AdderConv(WindowOp):
    arithmetic = "adder"
    compute = staticmethod(reference.adder_conv)

    @classmethod
    def check(cls, node) -> None:
        checks.operands(node, "adder", windowed=True)
