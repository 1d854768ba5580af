"""``IntSumPool`` in the stream design: a window sum with kernel = stride and no padding
(a global average over a non-power-of-two area is one) is an af_sumpool stage, the
requantizer after it its af_requant (``graph_units``)."""

from __future__ import annotations

from adderflow.errors import ConfigError
from adderflow.hw.network.graph import Stage
from adderflow.hw.network.graph_units import SOURCES, SumPoolSpec, post_params
from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Join, RtlMapping, Tap, Walk, width
from adderflow.sim.view import Node


class SumPool(Join):
    """One operand: the window sum waits for its requantizer."""

    sources = SOURCES["sumpool"]

    def refuses(self, node: Node) -> str:
        """Windows that overlap or leave gaps: af_sumpool steps by its kernel (a kernel
        covering a whole axis is one window there, whatever its stride)."""
        kernel, strides = list(node.attr("kernel_shape")), list(node.attr("strides"))
        shape = node.x.shape if node.inputs else None
        sizes = list(shape[2:]) if shape is not None and len(shape) == 4 else [None, None]
        if any(k != s and k != n for k, s, n in zip(kernel, strides, sizes, strict=False)):
            return (f"is a window sum with kernel {kernel} and strides {strides}: the RTL "
                    "sums windows with kernel = stride")  # fmt: skip
        return ""

    def start(self, node: Node, operands: list[Tap]) -> Tap:
        (x,) = operands
        if not x.clean:
            raise ConfigError(
                f"{node.where()}: its input passes a pool, flatten or accumulator the window "
                "sum cannot read; the RTL sums a requantized stream"
            )
        return Tap(x.source, x.walk, width(node.out, node), (self, node, operands))

    def finish(self, stages: list[Stage], node: Node, tap: Tap, mapping: RtlMapping) -> Tap:
        _, pool, (x,) = tap.joined  # type: ignore[misc]
        c, h, w = x.walk.frame
        params = post_params(node, mapping, pool, c)
        kh, kw = (int(k) for k in pool.attr("kernel_shape"))
        spec = SumPoolSpec((kh, kw), (c, h, w), x.bits, width(pool.out, pool), params,
                           node.proto.name)  # fmt: skip
        frame = (c, h // kh, w // kw)
        name = pool.proto.name
        stages.append(Stage(name, "sumpool", [x.source], frame=frame, bits=params["out_bits"],
                            spec=spec))  # fmt: skip
        return Tap((name, 0), Walk(frame), params["out_bits"])


UNITS.add("IntSumPool", SumPool())
