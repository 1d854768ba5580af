"""``IntConv``: an integer multiplication convolution (first layers of adder networks)."""

from adderflow.export import lowering
from adderflow.sim import cost_rules, reference
from adderflow.sim.ops import checks
from adderflow.sim.ops.base import WindowOp


class IntConv(WindowOp):
    arithmetic = "mac"
    compute = staticmethod(reference.int_conv)

    @classmethod
    def check(cls, node) -> None:
        checks.operands(node, "mul", windowed=True)

    @classmethod
    def terms(cls, node, g) -> tuple[int, int]:
        return cost_rules.window_terms(node, g)

    @classmethod
    def cost(cls, node, g, counted_as=None):
        return cost_rules.accumulate(node, g, cost_rules.window_terms(node, g), adder=False)

    @classmethod
    def lower(cls, lw, node) -> None:
        lowering.accumulate(lw, node.proto, cls.arithmetic, cls.layout)
