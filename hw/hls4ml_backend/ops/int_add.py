"""``IntAdd`` → hls4ml: refused, naming the layer (adderflow's hls4ml extension has no
residual-add layer yet: issue #20, [J2])."""

from adderflow.hw.hls4ml_backend.mapping import refused
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

MAPPINGS.add(
    "IntAdd",
    refused("is a residual add: adderflow's hls4ml extension has no join layer yet (issue #20)"),
)
