"""``AdderGemm`` in the stream design: an adder MVU over the whole frame."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Accumulating

UNITS.add("AdderGemm", Accumulating(mode="adder", conv=False))
