"""``IntGemm``: an integer multiplication dense layer (the classifier of adder networks)."""

from adderflow.sim import reference
from adderflow.sim.ops.base import DenseOp


class IntGemm(DenseOp):
    compute = staticmethod(reference.int_gemm)
