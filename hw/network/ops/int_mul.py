"""``IntMul`` in the stream design: no gate unit yet (a squeeze-excite product of two
streams is issue #20's part [J2]), so a network with one is refused naming the node."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Refused

UNITS.add(
    "IntMul",
    Refused("is a gate product of two activations: the RTL has no gate unit yet (issue #20, [J2])"),
)
