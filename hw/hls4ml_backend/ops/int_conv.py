"""``IntConv`` → hls4ml: the convolution's window machinery with products (kernel
``af_conv2d`` with ``af_mul_op``)."""

from adderflow.hw.hls4ml_backend.layouts import convert_conv
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

HEADER = "nnet_adder_conv2d.h"


def parts() -> Parts:
    from adderflow.hw.hls4ml_backend import layers as hl

    return hl.op_parts(
        "IntConv2D", hl.ConvLayer, hl.ConvConfig, hl.ConvCall, HEADER, kernel_op="af_mul_op"
    )


MAPPINGS.add(
    "IntConv",
    HlsMapping(lambda cv, node: convert_conv(cv, node, "IntConv2D"), parts, HEADER),
)
