"""``IntMul`` in the stream design: a squeeze-excite gate ``x · gate`` is an af_mul stage
(x on port a, the image's gate vector on port b), the requantizer after it its af_requant
(``graph_units``). x waits for its gate in an af_fifo the graph model sizes."""

from __future__ import annotations

from dataclasses import replace

from adderflow.errors import ConfigError
from adderflow.hw.network.graph import Stage
from adderflow.hw.network.graph_units import SOURCES, MulSpec, post_params
from adderflow.hw.network.ops import UNITS
from adderflow.hw.network.ops.base import Join, RtlMapping, Tap, width
from adderflow.sim.view import Node


class Mul(Join):
    """Two operands, x ``[C, H, W]`` and the gate ``[C, 1, 1]``; a requantizer next."""

    sources = tuple(dict.fromkeys((*SOURCES["mul"], "af_fork.v", "af_fifo.v", "af_skid.v")))

    def start(self, node: Node, operands: list[Tap]) -> Tap:
        x, gate = operands
        for tap, tensor in zip(operands, node.inputs, strict=True):
            if not tap.clean:
                raise ConfigError(
                    f"{node.where()}: operand '{tensor.name}' passes a pool, flatten or "
                    "accumulator the gate product cannot read; the RTL multiplies two "
                    "requantized streams"
                )
        c = x.walk.frame[0]
        if gate.walk.frame != (c, 1, 1):
            raise ConfigError(
                f"{node.where()}: gate frame {gate.walk.frame} does not gate x's frame "
                f"{x.walk.frame} (it must be ({c}, 1, 1))"
            )
        return Tap(x.source, replace(x.walk, layers=[]), width(node.out, node),
                   (self, node, operands))  # fmt: skip

    def finish(self, stages: list[Stage], node: Node, tap: Tap, mapping: RtlMapping) -> Tap:
        _, mul, (x, gate) = tap.joined  # type: ignore[misc]
        c, h, w = x.walk.frame
        params = post_params(node, mapping, mul, c)
        spec = MulSpec(h * w, x.bits, gate.bits, width(mul.out, mul), params, node.proto.name)
        name = mul.proto.name
        stages.append(Stage(name, "mul", [x.source, gate.source], frame=(c, h, w),
                            bits=params["out_bits"], spec=spec))  # fmt: skip
        return Tap((name, 0), replace(x.walk, layers=[]), params["out_bits"])


UNITS.add("IntMul", Mul())
