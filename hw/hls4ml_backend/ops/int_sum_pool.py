"""``IntSumPool`` → hls4ml: the exact window sum in ``out_bits``, no padding (kernel
``af_pool2d`` with ``af_pool_sum``; a global pool is the window of the whole map; its
requantization follows)."""

from adderflow.hw.hls4ml_backend.layouts import convert_pool
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

HEADER = "nnet_adder_pool.h"


def parts() -> Parts:
    from adderflow.hw.hls4ml_backend import layers as hl

    return hl.op_parts(
        "IntSumPool2D", hl.PoolLayer, hl.PoolConfig, hl.PoolCall, HEADER, pool_op="af_pool_sum"
    )


MAPPINGS.add(
    "IntSumPool",
    HlsMapping(lambda cv, node: convert_pool(cv, node, "IntSumPool2D", widens=True), parts, HEADER),
)
