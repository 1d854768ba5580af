"""``IntAvgPool`` in the stream design: fused into the next layer's af_window (the
rounded mean of a power-of-two area, a shift); never over ±1 codes."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Pool

UNITS.add("IntAvgPool", Pool(mode="avg"))
