"""``IntConv``: an integer multiplication convolution (first layers of adder networks)."""

from adderflow.sim import reference
from adderflow.sim.ops.layer import WindowOp


class IntConv(WindowOp):
    arithmetic = "mac"
    compute = staticmethod(reference.int_conv)
