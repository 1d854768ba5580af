"""``IntAdd`` in the stream design: no join unit yet (the residual add's hardware is issue
#20's part [J2]), so a network with one is refused naming the node."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Refused

UNITS.add("IntAdd", Refused("is a residual add: the RTL has no join unit yet (issue #20, [J2])"))
