"""The graph stages of the window sum, the gate product, the channel concatenation and the
table lookup (units af_sumpool, af_mul, af_concat, af_lut): what each records from the IR
(its spec), its unit configs, its handshake models, its memory files and its Verilog.
``graph``, ``design`` and ``verilog`` dispatch a stage of one of these kinds (``KINDS``)
here; the op mappings (``ops/``) make the stages.

- ``sumpool``: af_sumpool → af_requant (the window sum and the requantizer after it; a
  global average pool over a non-power-of-two area is one).
- ``mul``: af_mul (x on port a, the gate on port b) → af_requant (a squeeze-excite gate
  and its requantizer); x reaches it through an af_fifo the graph model sizes (the gate
  depends on x's whole image).
- ``concat``: af_concat (two streams joined on the channels; n operands are a chain of
  n − 1 stages, ``((a, b), c)``...).
- ``lut``: af_lut (the IR's table in a ROM file).

Each kind's input streams and its output carry the same lanes (``graph.lane_classes``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adderflow.hw.units.concat import CONCAT_SOURCES, ConcatConfig
from adderflow.hw.units.lut import LUT_SOURCES, LutConfig
from adderflow.hw.units.mul import MUL_SOURCES, MulConfig
from adderflow.hw.units.requant import REQUANT_SOURCES, RequantConfig, RequantUnit
from adderflow.hw.units.sumpool import SUMPOOL_SOURCES, SumPoolConfig

KINDS = ("sumpool", "mul", "concat", "lut")
SOURCES = {
    "sumpool": (*SUMPOOL_SOURCES, *REQUANT_SOURCES),
    "mul": (*MUL_SOURCES, *REQUANT_SOURCES),
    "concat": CONCAT_SOURCES,
    "lut": LUT_SOURCES,
}


@dataclass(frozen=True)
class SumPoolSpec:
    """A window sum (kernel = stride) and the requantizer after it."""

    kernel: tuple[int, int]
    in_frame: tuple[int, int, int]  # (C, H, W) it reads
    in_bits: int
    acc_bits: int  # the sum's out_bits
    params: dict[str, Any] = field(repr=False)  # the requantizer's (as a layer's)
    post_node: str = ""


@dataclass(frozen=True)
class MulSpec:
    """A gate product (x, gate) and the requantizer after it."""

    pixels: int  # H * W of x
    x_bits: int
    gate_bits: int
    acc_bits: int  # the product's out_bits
    params: dict[str, Any] = field(repr=False)
    post_node: str = ""


@dataclass(frozen=True)
class ConcatSpec:
    """Two streams of one frame and code width joined on the channel axis (a, then b)."""

    ca: int
    cb: int


@dataclass(frozen=True)
class LutSpec:
    """A table lookup: ``in_bits`` codes in, the table's ``2**in_bits`` entries."""

    in_bits: int
    table: np.ndarray = field(repr=False)


def stage_units(stage, lanes: int) -> tuple:
    """The Verilog configs of a stage of one of ``KINDS`` (``lanes`` on every stream)."""
    spec, c = stage.spec, stage.frame[0]
    if stage.kind == "sumpool":
        ci, h, w = spec.in_frame
        pool = SumPoolConfig(ci, h, w, spec.kernel, spec.in_bits, spec.acc_bits, lanes)
        return pool, RequantUnit.config(spec.params, spec.acc_bits, lanes)
    if stage.kind == "mul":
        mul = MulConfig(c, spec.pixels, spec.x_bits, spec.gate_bits, spec.acc_bits, lanes)
        return mul, RequantUnit.config(spec.params, spec.acc_bits, lanes)
    if stage.kind == "concat":
        return (ConcatConfig(spec.ca, spec.cb, stage.bits, lanes),)
    return (LutConfig(spec.in_bits, stage.bits, lanes),)


def stage_models(stage, units: tuple) -> list:
    """The stage's handshake models in a line (the first reads the stage's inputs, each
    next one the one before): ``handshake.GraphUnit``\\ s."""
    from adderflow.hw import handshake

    first = units[0].model()
    if stage.kind in ("sumpool", "mul"):
        return [first, handshake.Series(handshake.Post())]
    return [first]


def write_files(out: Path, stage, units: tuple) -> None:
    """The stage's memory files: the requantizer's ROMs, or the lookup table."""
    if stage.kind in ("sumpool", "mul"):
        first, second = RequantUnit.files(stage.name)
        RequantUnit.write(units[1], (out / first, out / second), stage.spec.params)
    elif stage.kind == "lut":
        units[0].write_table(out / table_file(stage.name), stage.spec.table)


def table_file(name: str) -> str:
    return f"{name}_table.hex"


def memory_files(stage) -> list[str]:
    if stage.kind in ("sumpool", "mul"):
        return list(RequantUnit.files(stage.name))
    return [table_file(stage.name)] if stage.kind == "lut" else []


def render(stage, units: tuple, wires: list[str]) -> list[str]:
    """The stage's instances, reading the streams ``wires`` (one prefix an input) and
    driving ``<name>_out``."""
    from adderflow.hw.network.verilog import _instance, _params, _stream_wires

    name, first = stage.name, units[0]
    what = {"sumpool": "window sum, requant", "mul": "gate product, requant",
            "concat": "channel concatenation", "lut": "table lookup"}[stage.kind]  # fmt: skip
    lines = ["", f"    // ---- {name}: {what}"]
    if stage.kind == "lut":
        params = first.parameters(table_file(name))
    else:
        params = first.parameters()
    two = stage.kind in ("mul", "concat")
    post = stage.kind in ("sumpool", "mul")
    unit_out = f"{name}_acc" if post else f"{name}_out"
    width = first.lanes * (first.out_bits if post else stage.bits)
    lines += _stream_wires(unit_out, width)
    module = f"af_{stage.kind}"
    if two:
        a, b = wires
        lines += [
            f"    {module} #(",
            _params(params),
            f"    ) u_{name}_{stage.kind} (",
            "        .clk(clk),",
            "        .rst(rst),",
            f"        .a_valid({a}_valid),",
            f"        .a_ready({a}_ready),",
            f"        .a_data({a}_data),",
            f"        .b_valid({b}_valid),",
            f"        .b_ready({b}_ready),",
            f"        .b_data({b}_data),",
            f"        .out_valid({unit_out}_valid),",
            f"        .out_ready({unit_out}_ready),",
            f"        .out_data({unit_out}_data)",
            "    );",
        ]
    else:
        lines += _instance(module, f"u_{name}_{stage.kind}", params, wires[0], unit_out)
    if post:
        rq: RequantConfig = units[1]
        lines += _stream_wires(f"{name}_out", rq.pe * rq.out_bits)
        files = RequantUnit.files(name)
        lines += _instance(
            "af_requant", f"u_{name}_requant", rq.parameters(*files), unit_out, f"{name}_out"
        )
    return lines


def summary(stage) -> dict[str, Any]:
    """design.json's extra keys of the stage."""
    spec = stage.spec
    if stage.kind == "sumpool":
        return {"kernel": list(spec.kernel), "acc_bits": spec.acc_bits, "post": spec.post_node}
    if stage.kind == "mul":
        return {"acc_bits": spec.acc_bits, "post": spec.post_node}
    if stage.kind == "concat":
        return {"channels": [spec.ca, spec.cb]}
    return {"in_bits": spec.in_bits}


def post_params(node, mapping, unit_node, channels: int) -> dict[str, Any]:
    """The requantizer's parameters after ``unit_node`` (a window sum or gate product):
    ``node`` must be a requantizer of ``channels`` per-channel values."""
    from adderflow.errors import ConfigError
    from adderflow.hw.network.ops.base import RequantPost

    if not isinstance(mapping, RequantPost):
        raise ConfigError(
            f"{node.where()}: follows '{unit_node.label}' ({unit_node.op}); a requantizer must"
        )
    first, second = (
        node.const(i, f"{name} input '{node.proto.input[i]}'").astype(np.int64).reshape(-1)
        for i, name in ((1, "multiplier"), (2, "bias"))
    )
    if first.shape != (channels,) or second.shape != (channels,):
        raise ConfigError(
            f"{node.where()}: per-channel parameters of shapes {first.shape} and "
            f"{second.shape}, expected ({channels},) for '{unit_node.proto.name}'"
        )
    return mapping.params(node, first, second)
