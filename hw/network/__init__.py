"""Whole-network RTL generator: a QONNX run → one streaming Verilog design.

Each layer of the IR becomes one chain ``af_window → af_mvu → af_requant`` or
``af_window → af_mvu → af_threshold`` (docs/rtl.md): the window unit buffers the layer's
input frame (pooling on write when a pool precedes the layer), the MVU computes the
adder, multiply or binary (xnor/popcount, DESIGN.md rule 6) dot products, and the last
unit applies the layer's requantization with its fused ReLU, or its sign threshold. A
dense layer after a flatten reads the whole frame as one window, with its weight columns
reordered from ONNX's ``(c, y, x)`` flatten order to the stream's ``(y, x, c)``.

What each IR op becomes is its RTL mapping, one module per op in ``ops/`` registered by
op name (``ops.UNITS``); ``read_layers`` walks ``adderflow.sim.view.read_view(model)``
and dispatches through that table, so an op without a mapping is refused by name.

Binary activations travel as 2-bit codes (+1 = 01, -1 = 11): the window's zero padding is
then code 0, which the xnor PE does not count (padding does not vote, docs/ir.md), and a
max pool on them is the window's ordinary signed max. Packed weights are unpacked to ±1
and stored as bits in the weight ROM.

The modules: ``layer`` (a layer in the stream's terms, its folding), ``read`` (the IR as
layers), ``cycles`` (folding and the cycle model), ``design`` (``generate`` and
``Design``), ``verilog`` (the top module). ``generate(..., window="line")`` puts an
``af_linewin`` (a ring of rows, loading overlapped with emission) in place of the
``af_window`` of every layer ``Layer.line_window`` accepts. Torch-free.
"""

from adderflow.hw.network.cycles import (
    LAYER_LATENCY,
    WINDOWS,
    choose_folding,
    default_target,
    divisors,
    handshake_cycles,
    input_beats,
    network_cycles,
    window_kinds,
)
from adderflow.hw.network.design import NETWORK_SOURCES, Design, generate
from adderflow.hw.network.layer import Folding, Layer
from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.read import PASS_THROUGH, read_layers
from adderflow.hw.network.verilog import TOP, render_top

__all__ = [
    "LAYER_LATENCY", "NETWORK_SOURCES", "PASS_THROUGH", "TOP", "UNITS", "WINDOWS", "Design",
    "Folding", "Layer", "choose_folding", "default_target", "divisors", "generate",
    "handshake_cycles", "input_beats", "network_cycles", "read_layers", "render_top",
    "window_kinds",
]  # fmt: skip
