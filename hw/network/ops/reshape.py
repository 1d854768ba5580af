"""ONNX ``Reshape`` in the stream design: no hardware where it keeps the stream's beat
order, refused naming the node otherwise.

The stream carries a frame ``[C, H, W]`` pixel by pixel in raster order, the channels of a
pixel together; a 1-D signal ``[C, L]`` is the frame ``[C, 1, L]``. A reshape that keeps
the channel axis (dim 1) and regroups only the spatial sizes (their product unchanged)
leaves every code's place in that order where it was: ``[N, C, L] → [N, C, 1, L]``, the
way a 1-D network enters the IR, is the usual one. Anything else (channels merged into
space, a flatten written as a reshape) would reorder the beats, and so would a reshape of a
frame a pool is still to be fused into (the window pools the unreshaped stream)."""

from __future__ import annotations

from adderflow.errors import ModelFormatError
from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import RtlMapping, Walk
from adderflow.sim.view import Node


class StreamReshape(RtlMapping):
    """The next layer reads the same beats as a frame of the target's spatial shape."""

    def apply(self, walk: Walk, node: Node) -> None:
        target = [int(d) for d in node.const(1, f"shape input '{node.proto.input[1]}'")[1:]]
        c, h, w = walk.frame
        if walk.pending is not None or walk.pool != 1 or walk.flat or walk.prepool:
            why = "a layer's accumulator" if walk.pending is not None else "a pool or flatten"
            self.refuse(node, f"reshapes {why} before the stream's next window reads it")
        if len(target) not in (2, 3) or target[0] != c or _product(target[1:]) != h * w:
            self.refuse(
                node,
                f"reshapes [{c}, {h}, {w}] (stream order y, x, c) to {target}: only a reshape "
                "keeping the channels and regrouping the spatial sizes keeps the beat order",
            )
        walk.frame = (c, 1, target[1]) if len(target) == 2 else (c, target[1], target[2])

    @staticmethod
    def refuse(node: Node, why: str) -> None:
        raise ModelFormatError(f"node '{node.label}' ({node.op}) {why}")


def _product(values: list[int]) -> int:
    out = 1
    for v in values:
        out *= v
    return out


UNITS.add("Reshape", StreamReshape())
