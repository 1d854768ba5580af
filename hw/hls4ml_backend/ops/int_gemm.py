"""``IntGemm`` → hls4ml: the classifier's products (kernel ``af_dense`` with
``af_mul_op``)."""

from adderflow.hw.hls4ml_backend.layouts import convert_dense
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

HEADER = "nnet_adder_dense.h"


def parts() -> Parts:
    from adderflow.hw.hls4ml_backend import layers as hl

    class IntDense(hl.DenseLayer):
        kernel_op = "af_mul_op"

    class Config(hl.DenseConfig):
        layers = (IntDense,)

    class Call(hl.DenseCall):
        layers, header = (IntDense,), HEADER

    return IntDense, (Config, Call)


MAPPINGS.add(
    "IntGemm", HlsMapping(lambda cv, node: convert_dense(cv, node, "IntDense"), parts, HEADER)
)
