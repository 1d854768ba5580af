"""``IntSumPool`` in the stream design: the window unit has no exact-sum mode yet (the
hardware of the new ops is issue #20's part [J2]), so a network with one is refused naming
the node."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Refused

UNITS.add(
    "IntSumPool",
    Refused("is a window sum (an average over a non-power-of-two area): the RTL has no "
            "sum-pool unit yet (issue #20, [J2])"),
)  # fmt: skip
