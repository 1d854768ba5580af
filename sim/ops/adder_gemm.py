"""``AdderGemm``: ``acc[n, o] = -sum_k |x[n, k] - w[o, k]|`` (a 1x1 adder layer)."""

from adderflow.sim import reference
from adderflow.sim.ops.base import DenseOp


class AdderGemm(DenseOp):
    compute = staticmethod(reference.adder_gemm)
