"""ONNX ``Concat`` (axis 1) in the stream design: two streams of one frame and code width
joined channel-wise in af_concat (at every pixel a's beats, then b's); n operands are a
chain of n − 1 af_concat stages (``graph_units``)."""

from __future__ import annotations

from dataclasses import replace

from adderflow.errors import ConfigError
from adderflow.hw.network.graph import Stage
from adderflow.hw.network.graph_units import SOURCES, ConcatSpec
from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Join, RtlMapping, Tap, Walk, width
from adderflow.sim.view import Node


class Concat(Join):
    """Its stage(s) at once: nothing follows a concatenation into its unit."""

    sources = tuple(dict.fromkeys((*SOURCES["concat"], "af_fork.v", "af_fifo.v")))
    immediate = True

    def refuses(self, node: Node) -> str:
        axis = node.attr("axis")
        if axis != 1:
            return f"is a concatenation on axis {axis}: the RTL joins channels (axis 1)"
        return ""

    def stage(self, stages: list[Stage], node: Node, operands: list[Tap]) -> Tap:
        bits = width(node.out, node)
        for tap, tensor in zip(operands, node.inputs, strict=True):
            if not tap.clean:
                raise ConfigError(
                    f"{node.where()}: operand '{tensor.name}' passes a pool, flatten or "
                    "accumulator the concatenation cannot read; the RTL joins streams"
                )
            if tap.walk.frame[1:] != operands[0].walk.frame[1:] or tap.bits != bits:
                raise ConfigError(
                    f"{node.where()}: operand '{tensor.name}' ({tap.bits}-bit codes, frame "
                    f"{tap.walk.frame}) differs from the output's {bits}-bit frame "
                    f"{operands[0].walk.frame[1:]}"
                )
        name, names = node.proto.name, {s.name for s in stages}
        left = operands[0]
        for i, right in enumerate(operands[1:], start=1):
            last = i == len(operands) - 1
            stage_name = name if last else _fresh(f"{name}_part{i}", names)
            ca, cb = left.walk.frame[0], right.walk.frame[0]
            frame = (ca + cb, *left.walk.frame[1:])
            stages.append(Stage(stage_name, "concat", [left.source, right.source], frame=frame,
                                bits=bits, spec=ConcatSpec(ca, cb)))  # fmt: skip
            left = Tap((stage_name, 0), replace(Walk(frame), layers=[]), bits)
        return left

    def start(self, node: Node, operands: list[Tap]) -> Tap:
        raise ConfigError(f"{node.where()}: a concatenation makes its stages at once")

    def finish(self, stages: list[Stage], node: Node, tap: Tap, mapping: RtlMapping) -> Tap:
        raise ConfigError(f"{node.where()}: a concatenation makes its stages at once")


def _fresh(name: str, names: set[str]) -> str:
    candidate, i = name, 1
    while candidate in names:
        i += 1
        candidate = f"{name}{i}"
    return candidate


UNITS.add("Concat", Concat())
