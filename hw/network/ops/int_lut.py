"""``IntLut`` in the stream design: no table unit yet (a lookup ROM streaming codes is
issue #20's part [J2]), so a network with one is refused naming the node."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Refused

UNITS.add(
    "IntLut",
    Refused("is a table lookup (e.g. a sigmoid gate): the RTL has no lookup unit yet "
            "(issue #20, [J2])"),
)  # fmt: skip
