"""ONNX ``Flatten`` in the stream design: the next layer reads the whole frame as one
window (a dense layer)."""

from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Flatten

UNITS.add("Flatten", Flatten())
