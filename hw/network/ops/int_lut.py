"""``IntLut`` in the stream design: a lane-wise table lookup is an af_lut stage, the IR's
table in its ROM file (``graph_units``)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from adderflow.errors import ConfigError
from adderflow.hw.network.graph import Stage
from adderflow.hw.network.graph_units import SOURCES, LutSpec
from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Join, RtlMapping, Tap, width
from adderflow.sim.view import Node


class Lut(Join):
    """One operand, its stage at once (nothing follows a lookup into its unit)."""

    sources = SOURCES["lut"]
    immediate = True

    def stage(self, stages: list[Stage], node: Node, operands: list[Tap]) -> Tap:
        (x,) = operands
        if not x.clean:
            raise ConfigError(
                f"{node.where()}: its input passes a pool, flatten or accumulator the lookup "
                "cannot read; the RTL looks up a requantized stream"
            )
        table = node.const(1, f"table '{node.proto.input[1]}'").astype(np.int64).reshape(-1)
        bits = width(node.out, node)
        name = node.proto.name
        stages.append(Stage(name, "lut", [x.source], frame=x.walk.frame, bits=bits,
                            spec=LutSpec(x.bits, table)))  # fmt: skip
        return Tap((name, 0), replace(x.walk, layers=[]), bits)

    def start(self, node: Node, operands: list[Tap]) -> Tap:
        raise ConfigError(f"{node.where()}: a lookup makes its stage at once")

    def finish(self, stages: list[Stage], node: Node, tap: Tap, mapping: RtlMapping) -> Tap:
        raise ConfigError(f"{node.where()}: a lookup makes its stage at once")


UNITS.add("IntLut", Lut())
