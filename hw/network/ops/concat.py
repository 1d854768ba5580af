"""ONNX ``Concat`` in the stream design: the layers are a line of streams, so joining two
of them is refused naming the node until the join units land (issue #20, [J2])."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Refused

UNITS.add(
    "Concat",
    Refused("is a channel concatenation of two streams: the RTL has no join unit yet "
            "(issue #20, [J2])"),
)  # fmt: skip
