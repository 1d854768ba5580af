"""Reading the IR as stream layers: ``read_layers`` walks ``read_view(model)`` and hands
each node to its op's RTL mapping (``ops.UNITS``)."""

from __future__ import annotations

import onnx

from adderflow.errors import ConfigError, ModelFormatError
from adderflow.hw.network.layer import Layer
from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Walk
from adderflow.sim.view import read_view

# The input quantizer's ops: float image -> codes, before the integer datapath.
PASS_THROUGH = ("Quant", "Mul", "Cast")


def read_layers(model: onnx.ModelProto) -> tuple[list[Layer], tuple[int, int, int], int]:
    """The IR as layers, plus the input frame ``(C, H, W)`` and the input code width."""
    view = read_view(model)
    if view.input_bits is None:
        raise ModelFormatError("model lacks the 'adderflow.input_bits' property of an IR export")
    # A node with no unit yet is refused before any layer is read, and before the input's
    # rank: a 1-D network's first node is its Reshape, which names what is missing.
    for node in view:
        why = UNITS.get(node.op).refuses(node) if node.op in UNITS else ""
        if why:
            raise ModelFormatError(f"node '{node.label}' ({node.op}) {why}")
    dims = view.input.shape or ()
    if len(dims) != 4:
        raise ConfigError(f"the RTL generator needs an NCHW image input, got rank {len(dims)}")
    frame = tuple(int(d or 0) for d in dims[1:])
    walk = Walk(frame)  # type: ignore[arg-type]
    for node in view:
        if node.op in PASS_THROUGH and not walk.layers and walk.pending is None:
            continue
        UNITS.get(node.op, f"node '{node.label}'").apply(walk, node)
    _check_end(walk)
    return walk.layers, frame, view.input_bits  # type: ignore[return-value]


def _check_end(walk: Walk) -> None:
    """The last layer ends in a post unit and gives one vector an image."""
    if walk.pending is not None or not walk.layers:
        raise ConfigError("the model must end with a requantizer or threshold after its last layer")
    if walk.pool != 1 or walk.flat:
        raise ConfigError(
            f"node '{walk.trailing}': the model ends with a pool or flatten the RTL has no "
            "layer for"
        )
    last = walk.layers[-1]
    if last.vectors != 1:
        oh, ow = last.window().out_size
        raise ConfigError(
            f"node '{last.name}': the RTL network's last layer must give one output vector "
            f"per image (a dense layer, or a conv whose output is 1x1); this one gives "
            f"{last.out}x{oh}x{ow}, which the output stream cannot carry"
        )
