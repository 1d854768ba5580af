"""ONNX ``Reshape`` in the stream design: refused naming the node. The generator reads an
NCHW image input and streams channels-last frames; a 1-D network entering as a 2-D one of
height 1 has a rank-3 input it cannot read, and a reshape between layers would reorder the
stream (a flatten is the one reshape it takes, as ``Flatten``)."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Refused

UNITS.add(
    "Reshape",
    Refused("is a reshape: the RTL reads NCHW images and takes Flatten as its only reshape "
            "(issue #20, [J2])"),
)  # fmt: skip
