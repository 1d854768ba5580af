"""``XnorConv`` in the stream design: an xnor/popcount MVU over a window of ±1 codes
(zero padding does not vote), its packed weights unpacked to ROM bits."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import BinaryAccumulating

UNITS.add("XnorConv", BinaryAccumulating(mode="xnor", conv=True))
