"""``XnorConv`` → hls4ml: refused, naming the layer (no XNOR/popcount or threshold layer in
adderflow's hls4ml extension yet)."""

from adderflow.hw.hls4ml_backend.mapping import NO_BINARY_LAYERS, refused
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

MAPPINGS.add("XnorConv", refused(NO_BINARY_LAYERS))
