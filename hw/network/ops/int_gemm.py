"""``IntGemm`` in the stream design: a multiply (mac) MVU over the whole frame."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Accumulating

UNITS.add("IntGemm", Accumulating(mode="mac", conv=False))
