"""``AdderGemm``: ``acc[n, o] = -sum_k |x[n, k] - w[o, k]|`` (a 1x1 adder layer)."""

from adderflow.export import lowering
from adderflow.sim import cost_rules, reference
from adderflow.sim.ops import checks
from adderflow.sim.ops.base import DenseOp


class AdderGemm(DenseOp):
    arithmetic = "adder"
    compute = staticmethod(reference.adder_gemm)

    @classmethod
    def check(cls, node) -> None:
        checks.operands(node, "adder", windowed=False)

    @classmethod
    def terms(cls, node, g) -> tuple[int, int]:
        return cost_rules.dense_terms(node, g)

    @classmethod
    def cost(cls, node, g, counted_as=None):
        """Adder-accumulate as it is; counted as its multiplier twin, multiply-accumulate at
        the twin's accumulator width."""
        terms = cost_rules.dense_terms(node, g)
        return cost_rules.accumulate(node, g, terms, adder=counted_as is None, twin=True)

    @classmethod
    def lower(cls, lw, node) -> None:
        lowering.accumulate(lw, node.proto, cls.arithmetic, cls.layout)
