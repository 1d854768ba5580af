"""``AdderConv`` → hls4ml: ``-sum |window - filter|`` over channels-last windows, zero
padding taking part (kernel ``af_conv2d`` with ``af_adder_op``)."""

from adderflow.hw.hls4ml_backend.layouts import convert_conv
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

HEADER = "nnet_adder_conv2d.h"


def parts() -> Parts:
    from adderflow.hw.hls4ml_backend import layers as hl

    return hl.op_parts(
        "AdderConv2D", hl.ConvLayer, hl.ConvConfig, hl.ConvCall, HEADER, kernel_op="af_adder_op"
    )


MAPPINGS.add(
    "AdderConv",
    HlsMapping(lambda cv, node: convert_conv(cv, node, "AdderConv2D"), parts, HEADER),
)
