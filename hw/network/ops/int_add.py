"""``IntAdd`` in the stream design: a residual add joins two streams of one frame and
lanes in af_add (``(a << s_a) + (b << s_b)``, exact); the requantizer after it is an
af_requant, as after an MVU. A stream read by the add and another stage is forked
(af_fork), the branch that waits through an af_fifo sized by the cycle model."""

from __future__ import annotations

from dataclasses import replace

from adderflow.errors import ConfigError
from adderflow.hw.network.graph import AddSpec, Stage
from adderflow.hw.network.graph_units import post_params
from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Join, RtlMapping, Tap, width
from adderflow.hw.units.add import ADD_SOURCES
from adderflow.hw.units.fifo import FIFO_SOURCES
from adderflow.hw.units.fork import FORK_SOURCES
from adderflow.sim.view import Node


class Add(Join):
    """Two requantized streams of one frame, added lane by lane; a requantizer next."""

    sources = tuple(dict.fromkeys((*ADD_SOURCES, *FORK_SOURCES, *FIFO_SOURCES)))

    def start(self, node: Node, operands: list[Tap]) -> Tap:
        a, b = operands
        for tap, tensor in zip(operands, node.inputs, strict=True):
            if not tap.clean:
                raise ConfigError(
                    f"{node.where()}: operand '{tensor.name}' passes a pool, flatten or "
                    "accumulator the add cannot read; the RTL adds two requantized streams"
                )
        if a.walk.frame != b.walk.frame:
            raise ConfigError(
                f"{node.where()}: operands of frames {a.walk.frame} and {b.walk.frame} differ"
            )
        walk = replace(a.walk, layers=[])
        return Tap(a.source, walk, width(node.out, node), (self, node, operands))

    def finish(self, stages: list[Stage], node: Node, tap: Tap, mapping: RtlMapping) -> Tap:
        """The requantizer after the add: one ``af_add → af_requant`` stage."""
        _, add, (a, b) = tap.joined  # type: ignore[misc]
        channels = tap.walk.frame[0]
        params = post_params(node, mapping, add, channels)
        shifts = [int(s) for s in add.attr("shifts")]
        spec = AddSpec((shifts[0], shifts[1]), width(add.out, add), a.bits, b.bits, channels,
                       params, node.proto.name)  # fmt: skip
        name = add.proto.name
        stages.append(
            Stage(name, "add", [a.source, b.source], add=spec, frame=tap.walk.frame,
                  bits=params["out_bits"])
        )  # fmt: skip
        return Tap((name, 0), replace(tap.walk, layers=[]), params["out_bits"])


UNITS.add("IntAdd", Add())
