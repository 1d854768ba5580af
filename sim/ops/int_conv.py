"""``IntConv``: an integer multiplication convolution (first layers of adder networks)."""

from adderflow.sim import reference
from adderflow.sim.ops import checks
from adderflow.sim.ops.base import WindowOp


class IntConv(WindowOp):
    arithmetic = "mac"
    compute = staticmethod(reference.int_conv)

    @classmethod
    def check(cls, node) -> None:
        checks.operands(node, "mul", windowed=True)
