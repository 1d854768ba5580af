"""``BinaryThreshold`` in the stream design: it ends a layer with af_threshold
(per-channel threshold and direction ROMs), ±1 codes out as 2-bit codes."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import ThresholdPost
from adderflow.hw.units.threshold import ThresholdUnit

UNITS.add("BinaryThreshold", ThresholdPost(ThresholdUnit(), ("threshold", "direction")))
