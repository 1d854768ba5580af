"""``XnorGemm`` in the stream design: an xnor/popcount MVU over a whole frame of ±1
codes, its packed weights unpacked to ROM bits."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import BinaryAccumulating

UNITS.add("XnorGemm", BinaryAccumulating(mode="xnor", conv=False))
