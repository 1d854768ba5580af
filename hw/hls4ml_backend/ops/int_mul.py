"""``IntMul`` → hls4ml: refused, naming the layer (issue #20, [J2])."""

from adderflow.hw.hls4ml_backend.mapping import refused
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

MAPPINGS.add(
    "IntMul",
    refused(
        "is a gate product of two activations: adderflow's hls4ml extension has no gate "
        "layer yet (issue #20)"
    ),
)
