"""Reading the IR as stream stages: ``read_graph`` walks ``read_view(model)`` and hands
each node to its op's RTL mapping (``ops.UNITS``), tensor by tensor, into a DAG of stages
(``graph.Graph``); ``read_layers`` is the same walk for a line of layers."""

from __future__ import annotations

from dataclasses import replace

import onnx

from adderflow.errors import ConfigError, ModelFormatError
from adderflow.hw.network.graph import Graph, Stage
from adderflow.hw.network.layer import Layer
from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Join, Tap, Walk
from adderflow.sim.view import Node, read_view

# The input quantizer's ops: float image -> codes, before the integer datapath.
PASS_THROUGH = ("Quant", "Mul", "Cast")


def read_layers(model: onnx.ModelProto) -> tuple[list[Layer], tuple[int, int, int], int]:
    """The IR as a line of layers, plus the input frame ``(C, H, W)`` and the input code
    width; a graph that is no line (a fork, a join) is refused naming its first join."""
    graph = read_graph(model)
    if not graph.is_line:
        first = next((s for s in graph.stages if s.kind != "layer"), None)
        if first is None:  # layers in a line whose last gives a frame (built as a graph)
            raise ConfigError(
                f"node '{graph.stages[-1].name}': the network ends on a frame, not one vector "
                "an image: it is built as a graph (generate), not as a line of layers"
            )
        raise ConfigError(f"node '{first.name}': the network is a graph, not a line of layers")
    return graph.layers, graph.frame, graph.in_bits


def read_graph(model: onnx.ModelProto) -> Graph:
    """The IR as a DAG of stages in topological order (no forks yet: a stream read by two
    stages is one ``Port`` in both their inputs; ``graph.with_forks`` adds them)."""
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
    if len(dims) not in (3, 4):
        raise ConfigError(
            f"the RTL generator needs an NCHW image or NCL signal input, got rank {len(dims)}"
        )
    # A signal [C, L] streams as the frame [C, 1, L] (the same beats).
    frame = tuple(int(d or 0) for d in ((dims[1], 1, dims[2]) if len(dims) == 3 else dims[1:]))
    taps = {view.input.name: Tap(None, Walk(frame), view.input_bits)}  # type: ignore[arg-type]
    stages: list[Stage] = []
    for node in view:
        tap = _tap(taps, node, node.x.name)
        if node.op in PASS_THROUGH and not stages and tap.source is None and tap.clean:
            taps[node.out.name] = tap
            continue
        mapping = UNITS.get(node.op, f"node '{node.label}'")
        if isinstance(mapping, Join):
            others = [_tap(taps, node, t.name) for t in node.inputs[1:] if not t.is_const]
            operands = [tap, *others]
            taps[node.out.name] = (
                mapping.stage(stages, node, operands)
                if mapping.immediate
                else mapping.start(node, operands)
            )
        elif tap.joined is not None:
            taps[node.out.name] = tap.joined[0].finish(stages, node, tap, mapping)
        else:
            taps[node.out.name] = _apply(stages, node, tap, mapping)
    out = _tap(taps, None, view.output.name)
    graph = Graph(stages, frame, view.input_bits, out.source)  # type: ignore[arg-type]
    _check_end(graph, out)
    return graph


def _tap(taps: dict[str, Tap], node: Node | None, name: str) -> Tap:
    if name not in taps:
        where = f"node '{node.label}' ({node.op})" if node else "the model's output"
        raise ConfigError(f"{where} reads tensor '{name}', which no stream carries")
    return taps[name]


def _apply(stages: list[Stage], node: Node, tap: Tap, mapping) -> Tap:
    """A single-input op through its mapping, on its input's own walk state (``layers``:
    every layer read so far, as the line reader's walk had them)."""
    layers = [s.layer for s in stages if s.layer is not None]
    before = len(layers)
    walk = replace(tap.walk, layers=layers)
    mapping.apply(walk, node)
    if len(walk.layers) == before:
        return Tap(tap.source, replace(walk, layers=[]), tap.bits)
    layer = walk.layers[-1]
    stages.append(
        Stage(layer.name, "layer", [tap.source], layer=layer, frame=walk.frame, bits=layer.out_bits)
    )
    return Tap((layer.name, 0), replace(walk, layers=[]), layer.out_bits)


def _check_end(graph: Graph, out: Tap) -> None:
    """The last stage ends in a post unit (a network may end on a frame: the output stream
    carries it in raster order)."""
    walk = out.walk
    if walk.pending is not None or out.joined is not None or out.source is None:
        raise ConfigError("the model must end with a requantizer or threshold after its last layer")
    if walk.pool != 1 or walk.flat or walk.prepool is not None:
        raise ConfigError(
            f"node '{walk.trailing}': the model ends with a pool or flatten the RTL has no "
            "layer for"
        )
