"""``Reshape`` → hls4ml: refused, naming the layer (issue #20, [J2])."""

from adderflow.hw.hls4ml_backend.mapping import refused
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

MAPPINGS.add(
    "Reshape",
    refused(
        "is a reshape: adderflow's hls4ml extension takes Flatten as its only reshape (issue #20)"
    ),
)
