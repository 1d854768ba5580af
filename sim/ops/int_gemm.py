"""``IntGemm``: an integer multiplication dense layer (the classifier of adder networks)."""

from adderflow.sim import reference
from adderflow.sim.ops import checks
from adderflow.sim.ops.base import DenseOp


class IntGemm(DenseOp):
    arithmetic = "mac"
    compute = staticmethod(reference.int_gemm)

    @classmethod
    def check(cls, node) -> None:
        checks.operands(node, "mul", windowed=False)
