"""``AdderGemm`` → hls4ml: ``-sum_k |x_k - w_ok|`` (kernel ``af_dense`` with
``af_adder_op``)."""

from adderflow.hw.hls4ml_backend.layouts import convert_dense
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

HEADER = "nnet_adder_dense.h"


def parts() -> Parts:
    from adderflow.hw.hls4ml_backend import layers as hl

    return hl.op_parts(
        "AdderDense", hl.DenseLayer, hl.DenseConfig, hl.DenseCall, HEADER, kernel_op="af_adder_op"
    )


MAPPINGS.add(
    "AdderGemm",
    HlsMapping(lambda cv, node: convert_dense(cv, node, "AdderDense"), parts, HEADER),
)
