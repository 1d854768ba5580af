"""``IntAvgPool``: average pooling on integer codes, ``round_half_even(sum / k²)``.

Kernel = stride = ``k`` (square), no padding, ``k·k`` a power of two: the mean is a shift
of the window sum with the contract's rounding (``fixed.round_shift``), so the output fits
the input's width and no backend needs a divider.
"""

from adderflow.fixed import avg_pool_shift
from adderflow.sim import reference
from adderflow.sim.onnx_io import node_label
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
