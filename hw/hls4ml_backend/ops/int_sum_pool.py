"""``IntSumPool`` → hls4ml: refused, naming the layer (issue #20, [J2])."""

from adderflow.hw.hls4ml_backend.mapping import refused
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

MAPPINGS.add(
    "IntSumPool",
    refused(
        "is a window sum (an average over a non-power-of-two area): adderflow's hls4ml "
        "extension has no sum-pool layer yet (issue #20)"
    ),
)
