"""``AdderConv`` in the stream design: an adder MVU over a window."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Accumulating

UNITS.add("AdderConv", Accumulating(mode="adder", conv=True))
