"""A generated stream network: ``generate`` writes ``af_network.v``, its memory files and
``design.json``; ``Design`` says where they are and how to drive the streams."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx

from adderflow.atomic import atomic_write_text
from adderflow.errors import ConfigError
from adderflow.hw.network.cycles import choose_folding, input_beats, network_cycles, window_kinds
from adderflow.hw.network.layer import Folding, Layer
from adderflow.hw.network.read import read_layers
from adderflow.hw.network.verilog import TOP, PostConfig, render_top, window_config
from adderflow.hw.units.common import rtl_sources
from adderflow.hw.units.lanes import pack_lanes, unpack_lanes
from adderflow.hw.units.linewin import LineWindowConfig
from adderflow.hw.units.mvu import MvuConfig

# Every unit a design may instantiate (af_linewin only where a layer has a line window).
NETWORK_SOURCES = (
    "af_window.v",
    "af_linewin.v",
    "af_mvu.v",
    "af_pe.v",
    "af_requant.v",
    "af_round.v",
    "af_threshold.v",
    "af_skid.v",
)



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
        return self.out_channels // self.out_lanes

    @property
    def sources(self) -> list[Path]:
        names = NETWORK_SOURCES
        if all(layer.get("window", "frame") == "frame" for layer in self.layers):
            names = tuple(n for n in names if n != "af_linewin.v")
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
        if codes.ndim != 4 or codes.shape[1:] != self.frame:
            raise ConfigError(f"input codes have shape {codes.shape}, expected (N, {self.frame})")
        lanes = codes.transpose(0, 2, 3, 1).reshape(-1, self.in_lanes)
        return pack_lanes(lanes, self.in_bits, what="input code")

    def output_codes(self, words: list[int]) -> np.ndarray:
        """Output beats back to ``[N, channels]`` codes."""
        if len(words) % self.beats_out:
            raise ConfigError(f"{len(words)} output beats is not whole images of {self.beats_out}")
        lanes = [unpack_lanes(w, self.out_lanes, self.out_bits) for w in words]
        return np.concatenate(lanes).reshape(-1, self.out_channels)

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
        mvu = MvuConfig(layer.mode, layer.bits, layer.k, layer.out, pe, simd)
        acc_bits = max(mvu.acc_bits or 0, layer.acc_bits)
        mvu = MvuConfig(layer.mode, layer.bits, layer.k, layer.out, pe, simd, acc_bits)
        post = layer.post_unit.config(layer.params, acc_bits, pe)
        units.append((mvu, post))
    return units


def generate(
    model: onnx.ModelProto,
    directory: str | os.PathLike,
    target: int | None = None,
    window: str = "frame",
    fold: Callable[[list[Layer]], Folding] | None = None,
) -> Design:
    """Write ``af_network.v``, its memory files and ``design.json`` into ``directory``.

    ``window="frame"``: every layer reads an ``af_window`` frame buffer (closed-form cycle
    model). ``window="line"``: layers ``Layer.line_window`` accepts (no pool before them,
    padding below the kernel, no stride leftovers) read an ``af_linewin`` ring instead,
    loading overlapped with emission; the others keep ``af_window``.

    ``fold``: picks the folding from the layers instead of ``choose_folding(layers,
    target)`` (``explore.cheapest_folding``: least estimated area for an interval)."""
    layers, frame, in_bits = read_layers(model)
    folding = fold(layers) if fold is not None else choose_folding(layers, target)
    kinds = window_kinds(layers, folding, window)
    units = _units(layers, folding)
    final = Path(directory).resolve()  # see Design.load
    final.parent.mkdir(parents=True, exist_ok=True)
    # Written into a fresh directory that replaces the old one only when complete, so a
    # failed generation never leaves memory files of one design beside another's top.
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}."))
    staging.chmod(0o755)
    try:
        _write_files(staging, layers, units, folding, in_bits, kinds)
        last = layers[-1]
        design = Design(
            directory=staging,
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
        design.save()
        _replace_dir(staging, final)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    design.directory = final
    return design


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


def _layer_summary(layer: Layer, mvu: MvuConfig, post: PostConfig, kind: str) -> dict:
    config = window_config(layer, mvu.simd, mvu.bits, kind)
    buffer_codes = (
        config.storage_codes
        if isinstance(config, LineWindowConfig)
        else config.channels * (config.height // config.pool) * (config.width // config.pool)
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
        "window": kind,
        "buffer_codes": buffer_codes,
        "cycles": layer.fold_cycles(mvu.pe, mvu.simd) + layer.latency,
        "mvu_cycles": layer.fold_cycles(mvu.pe, mvu.simd),
        "ops": layer.vectors * layer.k * layer.out,
    }
