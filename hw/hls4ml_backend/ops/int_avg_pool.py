"""``IntAvgPool`` → hls4ml: ``round_half_even(sum / 2**shift)`` over windows, no padding
(kernel ``af_pool2d`` with ``af_pool_avg``); an area that is no power of two is refused,
naming the layer."""

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.fixed import avg_pool_shift
from adderflow.hw.hls4ml_backend.layouts import convert_pool
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

HEADER = "nnet_adder_pool.h"


def convert(cv, node) -> None:
    kernel = node.attr("kernel_shape")
    try:
        shift = avg_pool_shift(kernel, node.attr("strides"), f"layer '{node.label}' ({node.op})")
    except QuantizationError as exc:
        raise ModelFormatError(str(exc)) from None
    convert_pool(cv, node, "IntAvgPool2D", shift=shift)


def parts() -> Parts:
    from hls4ml.model.attributes import Attribute

    from adderflow.hw.hls4ml_backend import layers as hl

    return hl.op_parts(
        "IntAvgPool2D", hl.PoolLayer, hl.PoolConfig, hl.PoolCall, HEADER,
        pool_op="af_pool_avg", _expected_attributes=[Attribute("shift")],
    )  # fmt: skip


MAPPINGS.add("IntAvgPool", HlsMapping(convert, parts, HEADER))
