"""``IntConv``: an integer multiplication convolution (first layers of adder networks)."""

from adderflow.sim import reference
from adderflow.sim.ops.base import WindowOp


class IntConv(WindowOp):
    compute = staticmethod(reference.int_conv)
