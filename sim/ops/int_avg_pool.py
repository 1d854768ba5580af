"""``IntAvgPool``: average pooling on integer codes, ``round_half_even(sum / k²)``.

Kernel = stride = ``k`` (square), no padding, ``k·k`` a power of two: the mean is a shift
of the window sum with the contract's rounding (``fixed.round_shift``), so the output fits
the input's width and no backend needs a divider.
"""

import numpy as np
from onnx import TensorProto

from adderflow.errors import QuantizationError
from adderflow.export import lowering
from adderflow.fixed import avg_pool_shift
from adderflow.sim import cost_rules, reference
from adderflow.sim.energy import width_bits
from adderflow.sim.onnx_io import node_attr, node_label
from adderflow.sim.ops import checks
from adderflow.sim.ops.base import IntegerOp


class IntAvgPool(IntegerOp):
    input_names = ("x",)

    def get_nodeattr_types(self):
        return {
            "kernel_shape": ("ints", True, []),
            "strides": ("ints", True, []),
            "out_bits": ("i", True, 0),
        }

    def shift(self) -> int:
        """``log2`` of the window area; refuses a non-square, strided or non-power-of-two
        window naming the node."""
        return avg_pool_shift(
            self.get_nodeattr("kernel_shape"),
            self.get_nodeattr("strides"),
            f"node '{node_label(self.onnx_node)}' (IntAvgPool)",
        )

    def verify_node(self) -> list[str]:
        super().verify_node()
        self.shift()
        return []

    def output_shape(self, input_shapes):
        n, c, h, w = input_shapes[0]
        (kh, kw), (sh, sw) = self.get_nodeattr("kernel_shape"), self.get_nodeattr("strides")
        return (n, c, (h - kh) // sh + 1, (w - kw) // sw + 1)

    def execute_node(self, context, graph):
        (x,) = self.inputs(context)
        self.shift()  # the error names this node rather than the reference's generic caller
        kernel = tuple(self.get_nodeattr("kernel_shape"))
        strides = tuple(self.get_nodeattr("strides"))
        self.write(context, reference.avg_pool(x, kernel, strides))

    @classmethod
    def check(cls, node) -> None:
        """Square kernel = stride, power-of-two area (the mean is a shift), and an output as
        wide as the input: the average of codes stays in their range, so nothing saturates.
        Not over ±1 codes: their mean is no ±1 code, and every other backend refuses it too."""
        checks.out_bits(node)
        kernel, strides = node_attr(node.proto, "kernel_shape"), node_attr(node.proto, "strides")
        avg_pool_shift(kernel, strides, node.where())
        x = node.x if node.inputs else None
        if x is not None and x.bipolar:
            raise QuantizationError(
                f"{node.where()}: averages the ±1 codes of '{x.name}'; binary activations are "
                "max pooled (the mean of ±1 codes is not a ±1 code)"
            )
        if x is not None:
            checks.not_narrower(node, "; the average needs the input's width")

    @classmethod
    def cost(cls, node, g, counted_as=None):
        """Per output ``k·k − 1`` additions at the sum's width (input width + ``log2(k·k)``),
        then one shift by ``log2(k·k)`` and one rounding add; no multiplier."""
        n = g.numel(node.out.name)
        window = cost_rules.pool_window(node)
        sum_width = f"int{width_bits(g.natural_width(node.x.name)) + window.bit_length() - 1}"
        return cost_rules.count(("add", sum_width, n * window), ("shift", sum_width, n))

    @classmethod
    def lower(cls, lw, node) -> None:
        """Window sums in int64 (crop to whole windows, reshape into ``k x k`` blocks,
        ``ReduceSum``), then float64 ``Mul`` by ``2**-log2(k·k)`` (exact), ``Round`` (half to
        even), cast back. onnxruntime's ``AveragePool`` has no int64 or float64 kernel and
        float32 is exact only while the sum stays below ``2**24``; this is exact for any
        width."""
        proto = node.proto
        name, k = proto.name, int(node_attr(proto, "kernel_shape")[0])
        kernel, strides = node_attr(proto, "kernel_shape"), node_attr(proto, "strides")
        shift = avg_pool_shift(kernel, strides, f"node '{name}' (IntAvgPool)")
        _, c, oh, ow = lw.shapes[proto.output[0]]
        window = [
            lw.const(f"{name}__starts", np.array([0, 0])),
            lw.const(f"{name}__ends", np.array([oh * k, ow * k])),
            lw.const(f"{name}__axes", np.array([2, 3])),
        ]
        crop = lw.add("Slice", [proto.input[0], *window], f"{name}__crop")
        shape = lw.const(f"{name}__blocks_shape", np.array([0, c, oh, k, ow, k]))
        blocks = lw.add("Reshape", [crop, shape], f"{name}__blocks")
        axes = lw.const(f"{name}__axkk", np.array([3, 5]))
        total = lw.add("ReduceSum", [blocks, axes], f"{name}__sum", keepdims=0)
        sf = lw.add("Cast", [total], f"{name}__sumf", to=TensorProto.DOUBLE)
        scale = lw.const(f"{name}__scale", np.float64(2.0**-shift))
        mean = lw.add("Mul", [sf, scale], f"{name}__mean")
        lowering.cast_back(lw, proto, lw.add("Round", [mean], f"{name}__round"))
