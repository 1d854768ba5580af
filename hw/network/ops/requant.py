"""``Requant`` in the stream design: it ends a layer with af_requant (per-channel
multiplier and bias ROMs, shift, fused ReLU)."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import RequantPost
from adderflow.hw.units.requant import RequantUnit

UNITS.add("Requant", RequantPost(RequantUnit(), ("multiplier", "bias")))
