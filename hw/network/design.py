"""A generated stream network: ``generate`` writes ``af_network.v``, its memory files and
``design.json``; ``Design`` says where they are and how to drive the streams."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx

from adderflow.atomic import atomic_write_text
from adderflow.errors import ConfigError
from adderflow.hw.network import graph as graphs
from adderflow.hw.network import graph_units
from adderflow.hw.network.cycles import choose_folding, input_beats, network_cycles, window_kinds
from adderflow.hw.network.graph import Graph, Stage
from adderflow.hw.network.layer import Folding, Layer
from adderflow.hw.network.read import read_graph
from adderflow.hw.network.verilog import TOP, PostConfig, render_graph, render_top, window_config
from adderflow.hw.units.add import AddConfig
from adderflow.hw.units.common import rtl_sources
from adderflow.hw.units.fifo import FifoConfig
from adderflow.hw.units.fork import ForkConfig
from adderflow.hw.units.lanes import pack_lanes, unpack_lanes
from adderflow.hw.units.linewin import LineWindowConfig
from adderflow.hw.units.mvu import MvuConfig
from adderflow.hw.units.requant import RequantUnit

# Every unit a design may instantiate (af_linewin only where a layer has a line window).
NETWORK_SOURCES = (
    "af_window.v",
    "af_linewin.v",
    "af_maxpool.v",
    "af_mvu.v",
    "af_pe.v",
    "af_requant.v",
    "af_round.v",
    "af_threshold.v",
    "af_skid.v",
    "af_fork.v",
    "af_fifo.v",
    "af_add.v",
    *(f"af_{kind}.v" for kind in graph_units.KINDS),
)
# The graph units, each only in a design with a stage of its kind.
GRAPH_SOURCES = {
    "fork": "af_fork.v",
    "fifo": "af_fifo.v",
    "add": "af_add.v",
    **{kind: f"af_{kind}.v" for kind in graph_units.KINDS},
}


@dataclass
class Design:
    """A generated network: where its files are and how to drive its streams."""

    directory: Path
    frame: tuple[int, int, int]
    in_bits: int
    in_lanes: int
    out_lanes: int
    out_bits: int
    out_channels: int
    cycles: int  # per image, the model
    layers: list[dict]
    window: str = "frame"  # generate(window=...): "frame" or "line"
    out_size: tuple[int, int] = (1, 1)  # the output frame's (H, W): a graph may end on one
    stages: list[dict] = field(default_factory=list)  # a graph's stages (empty: a line)

    @property
    def in_width(self) -> int:
        return self.in_lanes * self.in_bits

    @property
    def out_width(self) -> int:
        return self.out_lanes * self.out_bits

    @property
    def beats_in(self) -> int:
        return input_beats(self.frame, self.in_lanes)

    @property
    def beats_out(self) -> int:
        h, w = self.out_size
        return h * w * self.out_channels // self.out_lanes

    @property
    def sources(self) -> list[Path]:
        names = NETWORK_SOURCES
        if all(layer.get("window", "frame") == "frame" for layer in self.layers):
            names = tuple(n for n in names if n != "af_linewin.v")
        if not any(layer.get("prepool") for layer in self.layers):
            names = tuple(n for n in names if n != "af_maxpool.v")
        kinds = {stage["kind"] for stage in self.stages}
        names = tuple(
            n
            for n in names
            if n not in GRAPH_SOURCES.values()
            or any(GRAPH_SOURCES[k] == n for k in kinds if k in GRAPH_SOURCES)
        )
        return [*rtl_sources(names), self.directory / f"{TOP}.v"]

    def memory_files(self) -> list[Path]:
        """The ``$readmemh`` files ``af_network.v`` names (a missing one is an error, not
        a simulation of zeros)."""
        top = (self.directory / f"{TOP}.v").read_text()
        return [self.directory / name for name in sorted(set(re.findall(r'"(\w+\.hex)"', top)))]

    @property
    def buffer_codes(self) -> int | None:
        """Codes the windows store (frames for af_window, rings for af_linewin); None for a
        design.json written before the figure was recorded."""
        if any("buffer_codes" not in layer for layer in self.layers):
            return None
        return sum(int(layer["buffer_codes"]) for layer in self.layers)

    def input_words(self, codes: np.ndarray) -> list[int]:
        """Beats for images ``codes[N, C, H, W]``: raster order, ``in_lanes`` channels a beat."""
        codes = np.asarray(codes, dtype=np.int64)
        if codes.ndim == 3 and self.frame[1] == 1:  # signals [N, C, L]: the frame [C, 1, L]
            codes = codes[:, :, None, :]
        if codes.ndim != 4 or codes.shape[1:] != self.frame:
            raise ConfigError(f"input codes have shape {codes.shape}, expected (N, {self.frame})")
        lanes = codes.transpose(0, 2, 3, 1).reshape(-1, self.in_lanes)
        return pack_lanes(lanes, self.in_bits, what="input code")

    def output_codes(self, words: list[int]) -> np.ndarray:
        """Output beats back to ``[N, channels]`` codes (``[N, C, H, W]`` for an output
        frame, which the stream carries in raster order)."""
        if len(words) % self.beats_out:
            raise ConfigError(f"{len(words)} output beats is not whole images of {self.beats_out}")
        lanes = [unpack_lanes(w, self.out_lanes, self.out_bits) for w in words]
        codes = np.concatenate(lanes)
        if tuple(self.out_size) == (1, 1):
            return codes.reshape(-1, self.out_channels)
        h, w = self.out_size
        return codes.reshape(-1, h, w, self.out_channels).transpose(0, 3, 1, 2)

    def save(self) -> Path:
        info = {k: v for k, v in asdict(self).items() if k != "directory"}
        return atomic_write_text(self.directory / "design.json", json.dumps(info, indent=2) + "\n")

    @classmethod
    def load(cls, directory: str | os.PathLike) -> Design:
        path = Path(directory) / "design.json"
        if not path.is_file():
            raise ConfigError(f"{path} not found: generate the design with `adderflow rtl` first")
        try:
            info = json.loads(path.read_text())
            info["frame"] = tuple(info["frame"])
            info["out_size"] = tuple(info.get("out_size", (1, 1)))
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError):
            raise ConfigError(
                f"{path} is damaged: generate the design again with `adderflow rtl`"
            ) from None
        # Absolute: the simulators run inside the design folder, where a relative path
        # given from the caller's working directory would name nothing.
        return cls(directory=Path(directory).resolve(), **info)


def _units(layers: list[Layer], folding: Folding) -> list[tuple[MvuConfig, PostConfig]]:
    units: list[tuple[MvuConfig, PostConfig]] = []
    for layer, pe, simd in zip(layers, folding.pe, folding.simd, strict=True):
        mvu = MvuConfig(layer.mode, layer.bits, layer.k, layer.out, pe, simd, None, layer.groups)
        acc_bits = max(mvu.acc_bits or 0, layer.acc_bits)
        mvu = MvuConfig(
            layer.mode, layer.bits, layer.k, layer.out, pe, simd, acc_bits, layer.groups
        )
        post = layer.post_unit.config(layer.params, acc_bits, pe)
        units.append((mvu, post))
    return units


def generate(
    model: onnx.ModelProto,
    directory: str | os.PathLike,
    target: int | None = None,
    window: str = "frame",
    fold: Callable[[list[Layer]], Folding] | None = None,
    lanes: Callable[[Graph], dict] | None = None,
) -> Design:
    """Write ``af_network.v``, its memory files and ``design.json`` into ``directory``.

    ``window="frame"``: every layer reads an ``af_window`` frame buffer (closed-form cycle
    model). ``window="line"``: layers ``Layer.line_window`` accepts (no pool before them,
    padding below the kernel, no stride leftovers) read an ``af_linewin`` ring instead,
    loading overlapped with emission; the others keep ``af_window``.

    ``fold``: picks the folding from the layers instead of ``choose_folding(layers,
    target)`` (``explore.cheapest_folding``: least estimated area for an interval); a line
    of layers only (a graph's lanes come from ``graph.choose_lanes``, or from ``lanes``:
    given the graph with its forks, ``{port: lanes}`` for every stream, as
    ``explore.cheapest_lanes`` picks them; a line ignores it, a graph ignores ``fold``)."""
    graph = read_graph(model)
    final = Path(directory).resolve()  # see Design.load
    if graph.is_line:
        write, design = _line(graph, target, window, fold)
    elif fold is not None and lanes is None:
        raise ConfigError(
            "a folding chooser takes a line of layers; this network is a graph (forks and "
            "joins), whose lanes graph.choose_lanes picks"
        )
    else:
        write, design = _graph(graph, target, window, lanes)
    final.parent.mkdir(parents=True, exist_ok=True)
    # Written into a fresh directory that replaces the old one only when complete, so a
    # failed generation never leaves memory files of one design beside another's top.
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    staging.chmod(0o755)
    try:
        write(staging)
        design.directory = staging
        design.save()
        _replace_dir(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    design.directory = final
    return design


def _line(graph: Graph, target: int | None, window: str, fold=None):
    """A line of layers: folding by ``choose_folding`` (or ``fold``), the closed-form
    cycle model."""
    layers, frame, in_bits = graph.layers, graph.frame, graph.in_bits
    folding = fold(layers) if fold is not None else choose_folding(layers, target)
    kinds = window_kinds(layers, folding, window)
    units = _units(layers, folding)
    last = layers[-1]
    design = Design(
        directory=Path(),
        frame=frame,
        in_bits=in_bits,
        in_lanes=folding.simd[0],
        out_lanes=folding.pe[-1],
        out_bits=last.out_bits,
        out_channels=last.out,
        cycles=network_cycles(layers, folding, frame, kinds),
        layers=[
            _layer_summary(ly, m, r, kind)
            for ly, (m, r), kind in zip(layers, units, kinds, strict=True)
        ],
        window=window,
    )
    return (lambda out: _write_files(out, layers, units, folding, in_bits, kinds)), design


def plan_graph(graph: Graph, target: int | None = None, window: str = "frame", lanes=None):
    """A graph's forks, lanes, window kinds and sized FIFOs, and its cycles per image."""
    graph = graphs.with_forks(graph)
    chosen = lanes(graph) if lanes is not None else graphs.choose_lanes(graph, target)
    graph = graphs.set_lanes(graph, chosen)
    if window not in ("frame", "line"):
        window_kinds([], Folding((), ()), window)  # names the valid kinds
    kinds = {
        s.name: "line"
        if window == "line" and s.layer.line_window(graph.lanes_of(s.inputs[0])) is not None
        else "frame"
        for s in graph.stages
        if s.layer is not None
    }
    graph, cycles = graphs.size_fifos(graph, kinds)
    return graph, kinds, cycles


def _graph(graph: Graph, target: int | None, window: str, lanes=None):
    """A DAG of stages: lanes by ``graph.choose_lanes``, FIFOs and cycles by the graph
    handshake model."""
    graph, kinds, cycles = plan_graph(graph, target, window, lanes)
    units = {s.name: _stage_units(graph, s) for s in graph.stages}
    out = graph.stage(graph.output[0])
    layers = [s for s in graph.stages if s.layer is not None]
    design = Design(
        directory=Path(),
        frame=graph.frame,
        in_bits=graph.in_bits,
        in_lanes=graph.in_lanes,
        out_lanes=out.lanes,
        out_bits=out.bits,
        out_channels=out.frame[0],
        cycles=cycles,
        layers=[_layer_summary(s.layer, *units[s.name], kinds[s.name]) for s in layers],
        window=window,
        out_size=(out.frame[1], out.frame[2]),
        stages=[_stage_summary(graph, s) for s in graph.stages],
    )
    return (lambda d: _write_graph(d, graph, units, kinds)), design


def _stage_units(graph: Graph, s: Stage) -> tuple:
    """The Verilog configs of one stage."""
    width = s.lanes * s.bits
    if s.kind == "layer":
        layer, simd = s.layer, graph.lanes_of(s.inputs[0])
        return _units([layer], Folding((s.lanes,), (simd,)))[0]  # type: ignore[list-item]
    if s.kind == "add":
        a = s.add
        add = AddConfig(s.lanes, a.a_bits, a.b_bits, *a.shifts, a.acc_bits)  # type: ignore[union-attr]
        return add, RequantUnit.config(a.params, a.acc_bits, s.lanes)  # type: ignore[union-attr]
    if s.kind in graph_units.KINDS:
        return graph_units.stage_units(s, s.lanes)
    if s.kind == "fork":
        return (ForkConfig(s.n_out, width),)
    return (FifoConfig(s.depth, width),)


def _write_graph(out: Path, graph: Graph, units: dict, kinds: dict[str, str]) -> None:
    for s in graph.stages:
        if s.kind == "layer":
            mvu, post = units[s.name]
            mvu.write_weights(out / f"{s.name}_weights.hex", s.layer.weight)
            first, second = s.layer.post_unit.files(s.name)
            s.layer.post_unit.write(post, (out / first, out / second), s.layer.params)
        elif s.kind == "add":
            files = RequantUnit.files(s.name)
            RequantUnit.write(units[s.name][1], (out / files[0], out / files[1]), s.add.params)
        elif s.kind in graph_units.KINDS:
            graph_units.write_files(out, s, units[s.name])
    atomic_write_text(out / f"{TOP}.v", render_graph(graph, units, kinds))


def _stage_summary(graph: Graph, s: Stage) -> dict:
    info = {
        "name": s.name,
        "kind": s.kind,
        "inputs": [None if p is None else p[0] for p in s.inputs],
        "lanes": s.lanes,
        "bits": s.bits,
        "frame": list(s.frame),
    }
    if s.kind == "fifo":
        info |= {"depth": s.depth, "why": s.why}
    if s.kind in graph_units.KINDS:
        info |= graph_units.summary(s)
    return info


def _write_files(
    out: Path, layers, units, folding: Folding, in_bits: int, kinds: list[str]
) -> None:
    for layer, (mvu, post) in zip(layers, units, strict=True):
        mvu.write_weights(out / f"{layer.name}_weights.hex", layer.weight)
        first, second = layer.post_unit.files(layer.name)
        layer.post_unit.write(post, (out / first, out / second), layer.params)
    atomic_write_text(out / f"{TOP}.v", render_top(layers, units, folding, in_bits, kinds))


def _replace_dir(new: Path, final: Path) -> None:
    if final.exists():
        old = final.with_name(f".{final.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        final.rename(old)
        new.rename(final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        new.rename(final)


def _prepool_summary(layer: Layer, lanes: int) -> dict | None:
    """The max pool stage before the layer (kernel, strides, pads, frame), or None."""
    pool = layer.pool_window(lanes)
    if pool is None:
        return None
    return {
        "kernel": list(pool.kernel), "strides": list(pool.strides), "pads": list(pool.pads),
        "frame": [pool.height, pool.width], "cycles": layer.prepool_cycles(lanes),
        "buffer_codes": pool.channels * pool.height * pool.width,
    }  # fmt: skip


def _layer_summary(layer: Layer, mvu: MvuConfig, post: PostConfig, kind: str) -> dict:
    config = window_config(layer, mvu.simd, mvu.bits, kind)
    buffer_codes = (
        config.storage_codes
        if isinstance(config, LineWindowConfig)
        else config.channels * config.frame[0] * config.frame[1]
    )
    return {
        "name": layer.name,
        "mode": layer.mode,
        "post": layer.post,
        "out_bits": post.out_bits,
        "pe": mvu.pe,
        "simd": mvu.simd,
        "k": layer.k,
        "out": layer.out,
        "vectors": layer.vectors,
        "bits": mvu.bits,
        "acc_bits": mvu.acc_bits,
        "pool": layer.pool,
        "pool_mode": layer.pool_mode,
        "groups": layer.groups,
        "prepool": _prepool_summary(layer, mvu.simd),
        "window": kind,
        "buffer_codes": buffer_codes + (_prepool_summary(layer, mvu.simd) or {}).get(
            "buffer_codes", 0
        ),
        "cycles": layer.fold_cycles(mvu.pe, mvu.simd) + layer.latency,
        "mvu_cycles": layer.fold_cycles(mvu.pe, mvu.simd),
        "ops": layer.vectors * layer.k * layer.out,
    }
