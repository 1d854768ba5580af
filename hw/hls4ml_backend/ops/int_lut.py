"""``IntLut`` → hls4ml: refused, naming the layer (issue #20, [J2])."""

from adderflow.hw.hls4ml_backend.mapping import refused
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

MAPPINGS.add(
    "IntLut",
    refused(
        "is a table lookup (e.g. a sigmoid gate): adderflow's hls4ml extension has no "
        "lookup layer yet (issue #20)"
    ),
)
