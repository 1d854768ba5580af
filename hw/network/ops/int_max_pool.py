"""``IntMaxPool`` in the stream design: fused into the next layer's af_window (max on
write; on ±1 codes, the ordinary signed max)."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Pool

UNITS.add("IntMaxPool", Pool(mode="max"))
