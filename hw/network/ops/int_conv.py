"""``IntConv`` in the stream design: a multiply (mac) MVU over a window."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Accumulating

UNITS.add("IntConv", Accumulating(mode="mac", conv=True))
