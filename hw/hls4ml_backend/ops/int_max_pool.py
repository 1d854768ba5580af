"""``IntMaxPool`` → hls4ml: the largest code of each window, no padding (kernel
``af_pool2d`` with ``af_pool_max``)."""

from adderflow.hw.hls4ml_backend.layouts import convert_pool
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

HEADER = "nnet_adder_pool.h"


def parts() -> Parts:
    from adderflow.hw.hls4ml_backend import layers as hl

    class IntMaxPool2D(hl.PoolLayer):
        pool_op = "af_pool_max"

    class Config(hl.PoolConfig):
        layers = (IntMaxPool2D,)

    class Call(hl.PoolCall):
        layers, header = (IntMaxPool2D,), HEADER

    return IntMaxPool2D, (Config, Call)


MAPPINGS.add(
    "IntMaxPool",
    HlsMapping(lambda cv, node: convert_pool(cv, node, "IntMaxPool2D"), parts, HEADER),
)
