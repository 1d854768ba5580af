"""``IntGemm`` → hls4ml: the classifier's products (kernel ``af_dense`` with
``af_mul_op``)."""

from adderflow.hw.hls4ml_backend.layouts import convert_dense
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

HEADER = "nnet_adder_dense.h"


def parts() -> Parts:
    from adderflow.hw.hls4ml_backend import layers as hl

    return hl.op_parts(
        "IntDense", hl.DenseLayer, hl.DenseConfig, hl.DenseCall, HEADER, kernel_op="af_mul_op"
    )


MAPPINGS.add(
    "IntGemm", HlsMapping(lambda cv, node: convert_dense(cv, node, "IntDense"), parts, HEADER)
)
