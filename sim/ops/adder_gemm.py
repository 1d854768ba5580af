"""``AdderGemm``: ``acc[n, o] = -sum_k |x[n, k] - w[o, k]|`` (a 1x1 adder layer)."""

from adderflow.sim import reference
from adderflow.sim.ops.layer import DenseOp


class AdderGemm(DenseOp):
    arithmetic = "adder"
    compute = staticmethod(reference.adder_gemm)
