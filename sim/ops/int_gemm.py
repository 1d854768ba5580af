"""``IntGemm``: an integer multiplication dense layer (the classifier of adder networks)."""

from adderflow.sim import reference
from adderflow.sim.ops.layer import DenseOp


class IntGemm(DenseOp):
    arithmetic = "mac"
    compute = staticmethod(reference.int_gemm)
