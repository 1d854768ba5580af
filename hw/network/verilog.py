"""The top-level Verilog of a stream network: one window → MVU → post unit chain per layer,
stream wires between them, sign extension where the next MVU is wider."""

from __future__ import annotations

from adderflow.hw.network import graph_units
from adderflow.hw.network.gating import StageClocks
from adderflow.hw.network.layer import Folding, Layer
from adderflow.hw.units.common import hdl_literal
from adderflow.hw.units.linewin import LineWindowConfig
from adderflow.hw.units.maxpool import MaxPoolConfig
from adderflow.hw.units.mvu import MvuConfig
from adderflow.hw.units.requant import RequantConfig
from adderflow.hw.units.threshold import ThresholdConfig
from adderflow.hw.units.window import WindowConfig

TOP = "af_network"
PostConfig = RequantConfig | ThresholdConfig


def window_config(layer: Layer, lanes: int, bits: int, kind: str) -> WindowConfig:
    line = layer.line_window(lanes, bits) if kind == "line" else None
    return line if line is not None else layer.window(lanes, bits)


def _params(values: dict[str, object]) -> str:
    return ",\n".join(f"        .{k}({hdl_literal(v)})" for k, v in values.items())


def _sext(dst: str, src: str, lanes: int, src_bits: int, dst_bits: int) -> list[str]:
    """Lane-wise sign extension (the next MVU may be wider than the codes it reads)."""
    if src_bits == dst_bits:
        return [f"    assign {dst} = {src};"]
    pad = dst_bits - src_bits
    return [
        f"    assign {dst}[{i * dst_bits + dst_bits - 1}:{i * dst_bits}] = "
        f"{{{{{pad}{{{src}[{i * src_bits + src_bits - 1}]}}}}, "
        f"{src}[{i * src_bits + src_bits - 1}:{i * src_bits}]}};"
        for i in range(lanes)
    ]


def _stream_wires(prefix: str, width: int) -> list[str]:
    return [
        f"    wire {prefix}_valid;",
        f"    wire {prefix}_ready;",
        f"    wire [{width - 1}:0] {prefix}_data;",
    ]


def _instance(
    module: str, name: str, params: dict[str, object], src: str, dst: str, clock: str = "clk"
) -> list[str]:
    return [
        f"    {module} #(",
        _params(params),
        f"    ) {name} (",
        f"        .clk({clock}),",
        "        .rst(rst),",
        f"        .in_valid({src}_valid),",
        f"        .in_ready({src}_ready),",
        f"        .in_data({src}_data),",
        f"        .out_valid({dst}_valid),",
        f"        .out_ready({dst}_ready),",
        f"        .out_data({dst}_data)",
        "    );",
    ]


def _chain(
    layer: Layer,
    mvu: MvuConfig,
    rq: PostConfig,
    kind: str,
    src: str,
    src_bits: int,
    clocks: StageClocks,
) -> list[str]:
    """One layer's window → MVU → post unit, reading stream ``src`` of ``src_bits`` codes."""
    lines: list[str] = []
    lanes = mvu.simd
    name = layer.name
    lines += ["", f"    // ---- {name}: {layer.mode} layer, {layer.post}"]
    lines += _stream_wires(f"{name}_x", lanes * mvu.bits)
    lines += _sext(f"{name}_x_data", f"{src}_data", lanes, src_bits, mvu.bits)
    lines += [
        f"    assign {name}_x_valid = {src}_valid;",
        f"    assign {src}_ready = {name}_x_ready;",
    ]
    lines += _stream_wires(f"{name}_win", lanes * mvu.bits)
    lines += _stream_wires(f"{name}_acc", mvu.out_word_bits)
    lines += _stream_wires(f"{name}_out", rq.pe * rq.out_bits)
    units: list[tuple[str, str, dict[str, object], str, str]] = []
    pool = layer.pool_window(lanes, mvu.bits)
    if pool is not None:  # a padded max pool before the window: af_window (PAD_MIN) → af_maxpool
        lines += _stream_wires(f"{name}_pw", lanes * mvu.bits)
        lines += _stream_wires(f"{name}_p", lanes * mvu.bits)
        reduce = MaxPoolConfig.after(pool).parameters()
        units += [
            ("af_window", f"u_{name}_pool_window", pool.parameters(), f"{name}_x", f"{name}_pw"),
            ("af_maxpool", f"u_{name}_maxpool", reduce, f"{name}_pw", f"{name}_p"),
        ]
    config = window_config(layer, lanes, mvu.bits, kind)
    module = "af_linewin" if isinstance(config, LineWindowConfig) else "af_window"
    window_src = f"{name}_p" if pool is not None else f"{name}_x"
    units += [
        (module, f"u_{name}_window", config.parameters(), window_src, f"{name}_win"),
        ("af_mvu", f"u_{name}_mvu", mvu.parameters(f"{name}_weights.hex"), f"{name}_win",
         f"{name}_acc"),
        (layer.post_unit.module, f"u_{name}_{layer.post}",
         rq.parameters(*layer.post_unit.files(name)), f"{name}_acc", f"{name}_out"),
    ]  # fmt: skip
    return lines + _clocked(name, units, clocks)


def _clocked(
    group: str, units: list[tuple[str, str, dict[str, object], str, str]], clocks: StageClocks
) -> list[str]:
    """``units`` (module, instance, parameters, input and output stream) on ``group``'s
    clock."""
    clock = clocks.join(group, [(m, i, [f"{src}_valid"]) for m, i, _, src, _ in units])
    lines: list[str] = []
    for module, instance, params, src, dst in units:
        lines += _instance(module, instance, params, src, dst, clock)
    return lines


def _top_open(in_w: int, out_w: int) -> list[str]:
    """The top module's ports (one input stream, one output stream) and stream ``s0``."""
    return [
        "`default_nettype none",
        "",
        f"module {TOP} (",
        "    input  wire clk,",
        "    input  wire rst,",
        "    input  wire in_valid,",
        "    output wire in_ready,",
        f"    input  wire [{in_w - 1}:0] in_data,",
        "    output wire out_valid,",
        "    input  wire out_ready,",
        f"    output wire [{out_w - 1}:0] out_data",
        ");",
        *_stream_wires("s0", in_w),
        "    assign s0_valid = in_valid;",
        "    assign in_ready = s0_ready;",
        "    assign s0_data = in_data;",
    ]


def _top_close(src: str) -> list[str]:
    """Stream ``src`` to the top module's output, and the module's end."""
    return [
        "",
        f"    assign out_valid = {src}_valid;",
        f"    assign {src}_ready = out_ready;",
        f"    assign out_data = {src}_data;",
        "endmodule",
        "",
        "`default_nettype wire",
        "",
    ]


def render_top(
    layers: list[Layer],
    units: list[tuple[MvuConfig, PostConfig]],
    folding: Folding,
    in_bits: int,
    kinds: list[str] | None = None,
) -> str:
    """The top module: one window → MVU → requantizer (or threshold unit) chain per layer;
    the window is an ``af_linewin`` where ``kinds`` says ``"line"``."""
    kinds = kinds or ["frame"] * len(layers)
    in_w = folding.simd[0] * in_bits
    out_w = folding.pe[-1] * layers[-1].out_bits
    lines = [
        f"// {TOP}: generated by adderflow.hw.network from a QONNX run; do not edit.",
        "// Layers: "
        + ", ".join(
            f"{ly.name} ({ly.mode}+{ly.post}, PE={m.pe}, SIMD={m.simd}, {kind} window)"
            for ly, (m, _), kind in zip(layers, units, kinds, strict=True)
        ),
        *_top_open(in_w, out_w),
    ]
    clocks, body = StageClocks(), []
    src, src_bits = "s0", in_bits
    for layer, (mvu, rq), kind in zip(layers, units, kinds, strict=True):
        body += _chain(layer, mvu, rq, kind, src, src_bits, clocks)
        src, src_bits = f"{layer.name}_out", rq.out_bits
    return "\n".join(
        [*lines, *clocks.declarations(), *body, *clocks.enables(), *_top_close(src)]
    )


# ---- graphs ------------------------------------------------------------------------------


def _wire(graph, port) -> str:
    """The stream wires' prefix of a port of the graph (``s0``: the network's input)."""
    if port is None:
        return "s0"
    stage = graph.stage(port[0])
    return f"{stage.name}_o{port[1]}" if stage.kind == "fork" else f"{stage.name}_out"


def _add(stage, graph, config, rq: RequantConfig, clocks: StageClocks) -> list[str]:
    """af_add (a, b in the same cycle) → af_requant."""
    name, lanes = stage.name, stage.lanes
    a, b = (_wire(graph, p) for p in stage.inputs)
    lines = ["", f"    // ---- {name}: residual add, requant"]
    lines += _stream_wires(f"{name}_acc", lanes * config.out_bits)
    lines += _stream_wires(f"{name}_out", lanes * rq.out_bits)
    clock = clocks.join(
        _group(graph, stage),
        [("af_add", f"u_{name}_add", [f"{a}_valid", f"{b}_valid"]),
         ("af_requant", f"u_{name}_requant", [f"{name}_acc_valid"])],
    )  # fmt: skip
    lines += [
        "    af_add #(",
        _params(config.parameters()),
        f"    ) u_{name}_add (",
        f"        .clk({clock}),",
        "        .rst(rst),",
        f"        .a_valid({a}_valid),",
        f"        .a_ready({a}_ready),",
        f"        .a_data({a}_data),",
        f"        .b_valid({b}_valid),",
        f"        .b_ready({b}_ready),",
        f"        .b_data({b}_data),",
        f"        .out_valid({name}_acc_valid),",
        f"        .out_ready({name}_acc_ready),",
        f"        .out_data({name}_acc_data)",
        "    );",
    ]
    lines += _instance(
        "af_requant",
        f"u_{name}_requant",
        rq.parameters(f"{name}_mult.hex", f"{name}_bias.hex"),
        f"{name}_acc",
        f"{name}_out",
        clock,
    )
    return lines


def _group(graph, stage) -> str:
    """The clock group of ``stage``: a fork and the FIFOs after it run on their producer's
    clock (they work when it emits), a residual add on the clock of the layer that feeds it
    (it adds when that layer emits); each saves Verilator a clock domain to check on every
    edge. Any other stage has its own."""
    feeds = [p for p in stage.inputs if p is not None]
    if stage.kind in ("fork", "fifo") and feeds:
        producer = graph.stage(feeds[0][0])
        return stage.name if producer.kind in graph_units.KINDS else _group(graph, producer)
    if stage.kind == "add":
        layers = [graph.stage(p[0]) for p in feeds if graph.stage(p[0]).kind == "layer"]
        return layers[0].name if layers else stage.name
    return stage.name


def _fork(stage, graph, config, clocks: StageClocks) -> list[str]:
    src, name, n = _wire(graph, stage.inputs[0]), stage.name, stage.n_out
    width = config.width
    lines = ["", f"    // ---- {name}: fork to {n}"]
    for p in range(n):
        lines += _stream_wires(f"{name}_o{p}", width)
    join = lambda what: "{" + ", ".join(f"{name}_o{p}_{what}" for p in reversed(range(n))) + "}"  # noqa: E731
    clock = clocks.join(_group(graph, stage), [("af_fork", f"u_{name}", [f"{src}_valid"])])
    lines += [
        "    af_fork #(",
        _params(config.parameters()),
        f"    ) u_{name} (",
        f"        .clk({clock}),",
        "        .rst(rst),",
        f"        .in_valid({src}_valid),",
        f"        .in_ready({src}_ready),",
        f"        .in_data({src}_data),",
        f"        .out_valid({join('valid')}),",
        f"        .out_ready({join('ready')}),",
        f"        .out_data({join('data')})",
        "    );",
    ]
    return lines


def _fifo(stage, graph, config, clocks: StageClocks) -> list[str]:
    name = stage.name
    lines = ["", f"    // ---- {name}: {stage.why}"]
    lines += _stream_wires(f"{name}_out", config.width)
    src = _wire(graph, stage.inputs[0])
    unit = ("af_fifo", f"u_{name}", config.parameters(), src, f"{name}_out")
    lines += _clocked(_group(graph, stage), [unit], clocks)
    return lines


def render_graph(graph, units: dict[str, tuple], kinds: dict[str, str]) -> str:
    """The top module of a graph network: its stages in topological order, one stream
    input ``s0`` and the output stage's stream out (``units``: per stage its configs)."""
    in_w = graph.in_lanes * graph.in_bits
    out = graph.stage(graph.output[0])
    out_w = out.lanes * out.bits
    layers = [s for s in graph.stages if s.kind == "layer"]
    lines = [
        f"// {TOP}: generated by adderflow.hw.network from a QONNX run; do not edit.",
        "// Stages: "
        + ", ".join(
            f"{s.name} ({s.kind}{'' if s.kind != 'fifo' else f' depth {s.depth}'})"
            for s in graph.stages
        ),
        "// Layers: "
        + ", ".join(
            f"{s.layer.name} ({s.layer.mode}+{s.layer.post}, PE={units[s.name][0].pe}, "
            f"SIMD={units[s.name][0].simd}, {kinds.get(s.name, 'frame')} window)"
            for s in layers
        ),
        *_top_open(in_w, out_w),
    ]
    clocks, body = StageClocks(), []
    for s in graph.stages:
        if s.kind == "layer":
            mvu, rq = units[s.name]
            src = s.inputs[0]
            body += _chain(
                s.layer, mvu, rq, kinds.get(s.name, "frame"), _wire(graph, src),
                graph.bits_of(src), clocks,
            )  # fmt: skip
        elif s.kind == "add":
            body += _add(s, graph, *units[s.name], clocks)
        elif s.kind in graph_units.KINDS:
            wires = [_wire(graph, p) for p in s.inputs]
            body += graph_units.render(s, units[s.name], wires)
        elif s.kind == "fork":
            body += _fork(s, graph, units[s.name][0], clocks)
        else:
            body += _fifo(s, graph, units[s.name][0], clocks)
    src = _wire(graph, graph.output)
    return "\n".join(
        [*lines, *clocks.declarations(), *body, *clocks.enables(), *_top_close(src)]
    )
