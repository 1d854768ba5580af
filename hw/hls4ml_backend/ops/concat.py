"""``Concat`` → hls4ml: refused, naming the layer (issue #20, [J2])."""

from adderflow.hw.hls4ml_backend.mapping import refused
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

MAPPINGS.add(
    "Concat",
    refused(
        "is a channel concatenation: adderflow's hls4ml extension has no join layer yet (issue #20)"
    ),
)
