"""``IntMaxPool`` → hls4ml: the largest code of each window, no padding (kernel
``af_pool2d`` with ``af_pool_max``); padded taps hold the smallest code and never win."""

from adderflow.hw.hls4ml_backend.layouts import convert_pool
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

HEADER = "nnet_adder_pool.h"


def parts() -> Parts:
    from adderflow.hw.hls4ml_backend import layers as hl

    return hl.op_parts(
        "IntMaxPool2D", hl.PoolLayer, hl.PoolConfig, hl.PoolCall, HEADER, pool_op="af_pool_max"
    )


MAPPINGS.add(
    "IntMaxPool",
    HlsMapping(lambda cv, node: convert_pool(cv, node, "IntMaxPool2D"), parts, HEADER),
)
