"""``IntSumPool``: the exact window sum of integer codes (no padding).

DESIGN.md rule 10: an average over an area that is not a power of two is not a shift, so it
is this sum followed by a requantization (rule 4; its multiplier, ``1/area`` folded with the
scales, is a real multiplication and counted as one). The sum is an accumulator:
``out_bits`` must hold every sum of ``kh·kw`` codes of the input's width
(``fixed.window_sum_bits``, rule 9).
"""

import numpy as np
from onnx import TensorProto

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.fixed import window_sum_bits
from adderflow.sim import cost_rules, reference
from adderflow.sim.onnx_io import node_attr, node_label
from adderflow.sim.ops import checks
from adderflow.sim.ops.base import IntegerOp


class IntSumPool(IntegerOp):
    input_names = ("x",)

    def get_nodeattr_types(self):
        return {
            "kernel_shape": ("ints", True, []),
            "strides": ("ints", True, []),
            "out_bits": ("i", True, 0),
        }

    def output_shape(self, input_shapes):
        shape = tuple(input_shapes[0])
        (kh, kw), (sh, sw) = self.get_nodeattr("kernel_shape"), self.get_nodeattr("strides")
        if len(shape) != 4 or kh > shape[2] or kw > shape[3]:
            raise ModelFormatError(
                f"node '{node_label(self.onnx_node)}' (IntSumPool): window {[kh, kw]} does not "
                f"fit an input of shape {list(shape)} (NCHW, no padding)"
            )
        n, c, h, w = shape
        return (n, c, (h - kh) // sh + 1, (w - kw) // sw + 1)

    def execute_node(self, context, graph):
        (x,) = self.inputs(context)
        kernel = tuple(self.get_nodeattr("kernel_shape"))
        strides = tuple(self.get_nodeattr("strides"))
        self.write(context, reference.sum_pool(x, kernel, strides))

    @classmethod
    def check(cls, node) -> None:
        """A window of 2 sizes >= 1 and 2 strides >= 1 inside the NCHW input, no padding;
        an input of 2..16-bit codes; ``out_bits`` holding every sum of ``kh·kw`` of them
        (rules 9 and 10: the sum is exact, a requantization rounds and saturates it)."""
        bits = checks.out_bits(node)
        kernel, _ = _window(node)
        if not node.inputs:
            return  # verify_node's error, raised when the op runs
        x = node.x
        if x.shape is not None and (len(x.shape) != 4 or any(
            d is not None and k > d for k, d in zip(kernel, x.shape[2:], strict=False)
        )):  # fmt: skip
            raise QuantizationError(
                f"{node.where()}: window {kernel} does not fit input '{x.name}' of shape "
                f"{list(x.shape)} (NCHW, no padding)"
            )
        x_bits = checks.code_bits(node, x, "input")
        area = kernel[0] * kernel[1]
        needed = window_sum_bits(x_bits, area)
        if bits < needed:
            raise QuantizationError(
                f"{node.where()}: out_bits {bits} cannot hold its window sums: {area} "
                f"{x_bits}-bit codes reach {needed} bits (DESIGN.md rules 9 and 10: the sum is "
                "exact, a requantization rounds and saturates it)"
            )

    @classmethod
    def cost(cls, node, g, counted_as=None):
        """Per output ``kh·kw − 1`` additions at the sum's width (``out_bits``); the
        division by the area is the next requantization's multiplier, counted there."""
        n = g.numel(node.out.name)
        area = cost_rules.pool_window(node)
        return cost_rules.count(("add", f"int{node.attr('out_bits')}", n * (area - 1)))

    @classmethod
    def lower(cls, lw, node) -> None:
        """Each window tap copied out by a float32 ``Conv`` with one-hot kernels grouped by
        channel (a copy of a 16-bit code is exact in float32), cast to int64, then an int64
        ``ReduceSum`` over the taps: exact for any width and window (onnxruntime's
        ``AveragePool``/``Conv`` have no int64 kernel, and a float32 sum is exact only below
        ``2**24``)."""
        proto = node.proto
        name = proto.name
        kh, kw = (int(k) for k in node_attr(proto, "kernel_shape"))
        _, c, oh, ow = lw.shapes[proto.output[0]]
        area = kh * kw
        onehot = np.zeros((c * area, 1, kh, kw), dtype=np.float32)
        onehot.reshape(c, area, area)[:, np.arange(area), np.arange(area)] = 1.0
        xf = lw.add("Cast", [proto.input[0]], f"{name}__xf", to=TensorProto.FLOAT)
        taps = lw.add(
            "Conv",
            [xf, lw.const(f"{name}__onehot", onehot)],
            f"{name}__taps",
            kernel_shape=[kh, kw],
            strides=list(node_attr(proto, "strides")),
            group=c,
        )
        codes = lw.add("Cast", [taps], f"{name}__taps_i", to=TensorProto.INT64)
        shape = lw.const(f"{name}__shape5", np.array([0, c, area, oh, ow]))
        split = lw.add("Reshape", [codes, shape], f"{name}__split")
        axes = lw.const(f"{name}__axtaps", np.array([2]))
        lw.add("ReduceSum", [split, axes], proto.output[0], keepdims=0)


def _window(node) -> tuple[list[int], list[int]]:
    kernel = list(node.attr("kernel_shape"))
    strides = list(node.attr("strides"))
    if len(kernel) != 2 or min(kernel) < 1:
        raise QuantizationError(f"{node.where()}: kernel_shape {kernel} is not 2 sizes >= 1")
    if len(strides) != 2 or min(strides) < 1:
        raise QuantizationError(f"{node.where()}: strides {strides} are not 2 values >= 1")
    if any(node.attr("pads", [])):
        raise QuantizationError(f"{node.where()}: a window sum has no padding")
    return kernel, strides
