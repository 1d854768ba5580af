"""Whole-network RTL generator: a QONNX run → one streaming Verilog design.

Each layer of the IR becomes one chain ``af_window → af_mvu → af_requant`` or
``af_window → af_mvu → af_threshold`` (docs/rtl.md): the window unit buffers the layer's
input frame (max pooling on write when an ``IntMaxPool`` precedes the layer), the MVU
computes the adder (``AdderConv``/``AdderGemm``), multiply (``IntConv``/``IntGemm``) or
binary (``XnorConv``/``XnorGemm``, DESIGN.md rule 6) dot products, and the last unit
applies the layer's ``Requant`` with its fused ReLU, or its ``BinaryThreshold``. A dense
layer after a ``Flatten`` reads the whole frame as one window, with its weight columns
reordered from ONNX's ``(c, y, x)`` flatten order to the stream's ``(y, x, c)``.

Binary activations travel as 2-bit codes (+1 = 01, -1 = 11): the window's zero padding is
then code 0, which the xnor PE does not count (padding does not vote, docs/ir.md), and
``IntMaxPool`` on them is the window's ordinary signed max. Packed weights are unpacked
to ±1 and stored as bits in the weight ROM.

Folding: the stream between two layers carries ``PE`` channels of the producer a beat, so
a layer's ``SIMD`` equals the previous layer's ``PE`` (no width converters needed); the
first layer's ``SIMD`` is the input lanes. ``choose_folding`` searches every divisor choice
for the fewest lanes (``Σ PE·SIMD``) whose slowest layer meets a cycle target.

Cycle model (one image, input always valid, output always ready, counted from the first
input transfer to the last output transfer inclusive)::

    cycles = input_beats + Σ_layers (vectors · NF · SF + LAYER_LATENCY)

``LAYER_LATENCY`` = 2 (window: last write → first window beat) + 3 (MVU) + 3 (requantizer
or threshold unit, equally deep) − 1 (the window's first beat is the MVU's first issue).

``generate(..., window="line")`` puts an ``af_linewin`` (a ring of rows, loading overlapped
with emission) in place of the ``af_window`` of every layer ``Layer.line_window`` accepts.
Layers then overlap and back-pressure each other, so no sum holds: the cycle model steps the
units' handshakes (``adderflow.hw.handshake``, ``handshake_cycles``), which reduces to the
sum above when every window is a frame window.
Torch-free.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper

from adderflow.atomic import atomic_write_text
from adderflow.errors import AdderflowError, ConfigError, ModelFormatError
from adderflow.fixed import avg_pool_shift, code_bits, unpack_bits
from adderflow.hw import handshake
from adderflow.hw.rtlgen import (
    BINARY_CODE_BITS,
    MVU_LATENCY,
    REQUANT_LATENCY,
    THRESHOLD_LATENCY,
    WINDOW_LATENCY,
    LineWindowConfig,
    MvuConfig,
    RequantConfig,
    ThresholdConfig,
    WindowConfig,
    hdl_literal,
    pack_lanes,
    rtl_sources,
    unpack_lanes,
)
from adderflow.sim.onnx_io import node_attr

LAYER_LATENCY = WINDOW_LATENCY + MVU_LATENCY + REQUANT_LATENCY - 1
# The threshold unit is as deep as the requantizer, so one latency serves every layer (the
# closed-form cycle model below relies on it).
assert THRESHOLD_LATENCY == REQUANT_LATENCY
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
ACCUMULATING = {
    "AdderConv": "adder",
    "IntConv": "mac",
    "AdderGemm": "adder",
    "IntGemm": "mac",
    "XnorConv": "xnor",
    "XnorGemm": "xnor",
}
# The op that ends a layer, and the unit it becomes.
POST = {"Requant": "requant", "BinaryThreshold": "threshold"}
PASS_THROUGH = ("Quant", "Mul", "Cast")
TOP = "af_network"
WINDOWS = ("frame", "line")  # generate(window=...): af_window everywhere, or af_linewin


@dataclass
class Layer:
    """One ``window → MVU → requantizer | threshold unit`` chain, shapes in the stream's terms."""

    name: str
    mode: str  # adder | mac | xnor
    channels: int  # C of the input frame (after pooling)
    height: int  # input frame before pooling
    width: int
    pool: int
    kernel: tuple[int, int]
    stride: int
    pad: int
    out: int
    in_bits: int
    weight_bits: int
    acc_bits: int  # the IR's accumulator width
    weight: np.ndarray = field(repr=False)  # [OUT, K], columns in (ky, kx, c) order; ±1 for xnor
    post: str = "requant"  # requant | threshold: the unit after the MVU
    post_node: str = ""  # the IR node it comes from (Requant / BinaryThreshold)
    multiplier: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    bias: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    shift: int = 0
    out_bits: int = 8
    relu: bool = False
    threshold: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    direction: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    pool_mode: str = "max"  # max | avg: the IntMaxPool / IntAvgPool fused into the window

    def window(self, lanes: int = 1, bits: int | None = None) -> WindowConfig:
        """The af_window that feeds this layer's MVU."""
        return WindowConfig(
            bits or self.bits,
            self.channels,
            self.height,
            self.width,
            self.kernel,
            self.stride,
            self.pad,
            self.pool,
            lanes,
            self.pool_mode,
        )

    def line_window(self, lanes: int = 1, bits: int | None = None) -> LineWindowConfig | None:
        """The af_linewin that can feed this layer's MVU, or None where only af_window can.

        None with a pool before the layer (af_linewin does not pool), a padding not below
        the kernel or a frame its counters cannot address (``LineWindowConfig`` refuses
        them), and with stride leftovers (input rows below the last window): af_linewin
        takes those after its last output row, so they would still be flowing through the
        layers before it when the image has left, and the next image would not start
        from an idle network (the cycle model is per image from idle).
        """
        if self.pool != 1:
            return None
        try:
            config = LineWindowConfig(
                bits or self.bits,
                self.channels,
                self.height,
                self.width,
                self.kernel,
                self.stride,
                self.pad,
                lanes=lanes,
            )
        except ConfigError:
            return None
        (oh, _), kh = config.out_size, self.kernel[0]
        if (oh - 1) * self.stride - self.pad + kh < self.height:
            return None
        return config

    @property
    def vectors(self) -> int:
        oh, ow = self.window().out_size
        return oh * ow

    @property
    def k(self) -> int:
        return self.kernel[0] * self.kernel[1] * self.channels

    @property
    def bits(self) -> int:
        """The MVU's input lane width (binary layers: the 2-bit ±1/0 codes)."""
        if self.mode == "xnor":
            return BINARY_CODE_BITS
        return max(self.in_bits, self.weight_bits)

    def fold_cycles(self, pe: int, simd: int) -> int:
        """Cycles the MVU spends per image: ``vectors · NF · SF``."""
        return self.vectors * (self.out // pe) * (self.k // simd)


@dataclass(frozen=True)
class Folding:
    """``pe[i]``/``simd[i]`` per layer; ``simd[i+1] == pe[i]``."""

    pe: tuple[int, ...]
    simd: tuple[int, ...]

    @property
    def lanes(self) -> int:
        return sum(p * s for p, s in zip(self.pe, self.simd, strict=True))


# ---- reading the IR ------------------------------------------------------------------


def _initializers(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def _symmetric_pad(node: onnx.NodeProto) -> int:
    pads = list(node_attr(node, "pads", [0, 0, 0, 0]))
    if len(set(pads)) != 1:
        raise ConfigError(f"node '{node.name}': the RTL window needs equal pads, got {pads}")
    return int(pads[0])


def _square(node: onnx.NodeProto, name: str, default: list[int] | None = None) -> int:
    values = list(node_attr(node, name, default) if default is not None else node_attr(node, name))
    if len(values) != 2 or values[0] != values[1]:
        raise ConfigError(f"node '{node.name}': the RTL needs a square {name}, got {values}")
    return int(values[0])


def _weight_bits(w: np.ndarray) -> int:
    # code_bits: a 16-bit weight of -32768 is 16 bits (the PE widens x - w to b+1 itself).
    return max(2, code_bits(w))


def read_layers(model: onnx.ModelProto) -> tuple[list[Layer], tuple[int, int, int], int]:
    """The IR as layers, plus the input frame ``(C, H, W)`` and the input code width."""
    inits = _initializers(model)
    props = {p.key: p.value for p in model.metadata_props}
    if "adderflow.input_bits" not in props:
        raise ModelFormatError("model lacks the 'adderflow.input_bits' property of an IR export")
    in_bits = int(props["adderflow.input_bits"])
    dims = model.graph.input[0].type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ConfigError(f"the RTL generator needs an NCHW image input, got rank {len(dims)}")
    c, h, w = (int(d.dim_value) for d in dims[1:])
    frame = (c, h, w)
    layers: list[Layer] = []
    pending: dict | None = None  # an accumulating node waiting for its Requant/threshold
    pool, flat, bits, pool_mode = 1, False, in_bits, "max"
    trailing = ""  # the last pool or flatten node, named if the model ends with it
    for node in model.graph.node:
        op = node.op_type
        if op in PASS_THROUGH and not layers and pending is None:
            continue
        if op in ACCUMULATING:
            if pending is not None:
                raise ConfigError(
                    f"node '{node.name}': {op} follows an accumulator without Requant or "
                    "BinaryThreshold"
                )
            binary_input = bool(layers) and layers[-1].post == "threshold"
            if op.startswith("Xnor") and not binary_input:
                raise ConfigError(
                    f"node '{node.name}' ({op}): a binary layer must read the ±1 codes of a "
                    "BinaryThreshold (through pools and flattens only)"
                )
            pending = {
                "node": node, "frame": frame, "pool": pool, "flat": flat, "bits": bits,
                "pool_mode": pool_mode,
            }  # fmt: skip
            pool, flat, pool_mode = 1, False, "max"
        elif op in POST:
            if pending is None:
                raise ConfigError(f"node '{node.name}': {op} without an accumulating layer")
            layer = _layer(pending, node, inits)
            layers.append(layer)
            frame = (layer.out, *layer.window().out_size)
            bits, pending = layer.out_bits, None
        elif op in ("IntMaxPool", "IntAvgPool"):
            kernel, stride = _square(node, "kernel_shape"), _square(node, "strides")
            if op == "IntAvgPool":
                _check_avg_pool(node, kernel, stride, layers)
                pool_mode = "avg"
            if kernel != stride or pool != 1 or flat:
                raise ConfigError(
                    f"node '{node.name}': the RTL pools with kernel = stride once per layer, "
                    f"got kernel {kernel}, stride {stride}"
                )
            c_, h_, w_ = frame
            if h_ % kernel or w_ % kernel:
                raise ConfigError(f"node '{node.name}': frame {h_}x{w_} not divisible by {kernel}")
            pool, frame = kernel, (c_, h_ // kernel, w_ // kernel)
            trailing = node.name
        elif op == "Flatten":
            flat, trailing = True, node.name
        else:
            raise ConfigError(f"node '{node.name}': op {op} has no RTL unit")
    if pending is not None or not layers:
        raise ConfigError(
            "the model must end with a Requant or BinaryThreshold after its last layer"
        )
    if pool != 1 or flat:
        raise ConfigError(
            f"node '{trailing}': the model ends with a pool or flatten the RTL has no layer for"
        )
    last = layers[-1]
    if last.vectors != 1:
        oh, ow = last.window().out_size
        raise ConfigError(
            f"node '{last.name}': the RTL network's last layer must give one output vector "
            f"per image (a dense layer, or a conv whose output is 1x1); this one gives "
            f"{last.out}x{oh}x{ow}, which the output stream cannot carry"
        )
    return layers, (c, h, w), in_bits


def _check_avg_pool(node: onnx.NodeProto, kernel: int, stride: int, layers: list) -> None:
    """A power-of-two area (af_window's mean is a shift) over codes, not ±1 codes (an
    average of ±1 codes is no ±1 code for a binary layer to read)."""
    try:
        avg_pool_shift((kernel, kernel), (stride, stride), f"node '{node.name}' (IntAvgPool)")
    except AdderflowError as exc:
        raise ConfigError(str(exc)) from None
    if layers and layers[-1].post == "threshold":
        raise ConfigError(
            f"node '{node.name}' (IntAvgPool): averages the ±1 codes of layer "
            f"'{layers[-1].name}'; binary activations are max pooled"
        )


def _weight(node: onnx.NodeProto, inits: dict[str, np.ndarray]) -> np.ndarray:
    """The layer's weight as integers; a binary layer's packed bits unpacked to ±1 codes of
    its logical ``weight_shape`` (``fixed.unpack_bits``: uint8 rows, LSB first)."""
    weight = inits.get(node.input[1])
    if weight is None:
        raise ModelFormatError(
            f"node '{node.name}': weight '{node.input[1]}' is not an initializer"
        )
    if not node.op_type.startswith("Xnor"):
        return weight
    shape = tuple(int(d) for d in node_attr(node, "weight_shape", []))
    try:
        return unpack_bits(weight, shape)
    except AdderflowError as exc:
        raise ModelFormatError(f"node '{node.name}' ({node.op_type}): {exc}") from exc


def _layer(pending: dict, post: onnx.NodeProto, inits: dict[str, np.ndarray]) -> Layer:
    node: onnx.NodeProto = pending["node"]
    c, fh, fw = pending["frame"]
    pool = pending["pool"]
    weight = _weight(node, inits)
    out = weight.shape[0]
    if node.op_type.endswith("Conv"):
        kernel = tuple(int(k) for k in node_attr(node, "kernel_shape"))
        stride, pad = _square(node, "strides", [1, 1]), _symmetric_pad(node)
        if weight.shape[1] != c:
            raise ConfigError(f"node '{node.name}': weight has {weight.shape[1]} channels, not {c}")
        matrix = weight.transpose(0, 2, 3, 1).reshape(out, -1)  # (ky, kx, c) columns
    else:
        kernel, stride, pad = (fh, fw), 1, 0
        if weight.shape[1] != c * fh * fw:
            raise ConfigError(
                f"node '{node.name}': weight has {weight.shape[1]} inputs, not {c * fh * fw}"
            )
        matrix = weight.reshape(out, c, fh, fw).transpose(0, 2, 3, 1).reshape(out, -1)
    first, second = inits.get(post.input[1]), inits.get(post.input[2])
    if first is None or second is None:
        what = "multiplier or bias" if post.op_type == "Requant" else "threshold or direction"
        raise ModelFormatError(f"node '{post.name}': {what} is not an initializer")
    first, second = first.astype(np.int64).reshape(-1), second.astype(np.int64).reshape(-1)
    if first.shape != (out,) or second.shape != (out,):
        raise ConfigError(
            f"node '{post.name}' ({post.op_type}): per-channel parameters of shapes "
            f"{first.shape} and {second.shape}, expected ({out},) for layer '{node.name}'"
        )
    mode = ACCUMULATING[node.op_type]
    if post.op_type == "Requant":
        ends = {
            "multiplier": first,
            "bias": second,
            "shift": int(node_attr(post, "shift")),
            "out_bits": int(node_attr(post, "out_bits")),
            "relu": bool(node_attr(post, "relu", 0)),
        }
    else:
        if not np.all(np.abs(second) == 1):
            raise ConfigError(f"node '{post.name}' (BinaryThreshold): directions must be ±1")
        ends = {"threshold": first, "direction": second, "out_bits": BINARY_CODE_BITS}
    return Layer(
        name=node.name,
        mode=mode,
        channels=c,
        height=fh * pool,
        width=fw * pool,
        pool=pool,
        pool_mode=pending["pool_mode"],
        kernel=kernel,  # type: ignore[arg-type]
        stride=stride,
        pad=pad,
        out=out,
        in_bits=pending["bits"],
        weight_bits=1 if mode == "xnor" else _weight_bits(matrix),
        acc_bits=int(node_attr(node, "out_bits")),
        weight=matrix.astype(np.int64),
        post=POST[post.op_type],
        post_node=post.name,
        **ends,
    )


# ---- folding and cycles --------------------------------------------------------------


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def input_beats(frame: tuple[int, int, int], lanes: int) -> int:
    c, h, w = frame
    return h * w * (c // lanes)


def window_kinds(layers: list[Layer], folding: Folding, window: str = "frame") -> list[str]:
    """Per layer ``"line"`` (af_linewin) or ``"frame"`` (af_window): with
    ``window="line"`` every layer ``Layer.line_window`` accepts gets a line window."""
    if window not in WINDOWS:
        raise ConfigError(f"unknown window kind {window!r}; valid: {', '.join(WINDOWS)}")
    return [
        "line" if window == "line" and layer.line_window(simd) is not None else "frame"
        for layer, simd in zip(layers, folding.simd, strict=True)
    ]


def network_cycles(
    layers: list[Layer],
    folding: Folding,
    frame: tuple[int, int, int],
    windows: list[str] | None = None,
) -> int:
    """Cycles for one image, first input transfer to last output transfer inclusive.

    Closed form while every window stores a whole frame; with a line window anywhere the
    units' handshakes are stepped (``handshake_cycles``), since overlap and back-pressure
    make a layer's timing depend on its neighbours'."""
    if windows is not None and "line" in windows:
        return handshake_cycles(layers, folding, frame, windows)
    return input_beats(frame, folding.simd[0]) + sum(
        layer.fold_cycles(pe, simd) + LAYER_LATENCY
        for layer, pe, simd in zip(layers, folding.pe, folding.simd, strict=True)
    )


def handshake_cycles(
    layers: list[Layer],
    folding: Folding,
    frame: tuple[int, int, int],
    windows: list[str] | None = None,
) -> int:
    """The cycle model by stepping every unit's handshake (``adderflow.hw.handshake``):
    window → MVU → requantizer or threshold unit per layer, one image from idle. Equal to
    the closed form when every window is a frame window."""
    kinds = windows or ["frame"] * len(layers)
    chain: list[handshake.Unit] = []
    for layer, pe, simd, kind in zip(layers, folding.pe, folding.simd, kinds, strict=True):
        line = layer.line_window(simd) if kind == "line" else None
        if kind == "line" and line is None:
            raise ConfigError(f"layer '{layer.name}' cannot take a line window")
        chain += [
            handshake.LineWindow(line) if line else handshake.FrameWindow(layer.window(simd)),
            handshake.Mvu(layer.k // simd, layer.out // pe),
            handshake.Post(),
        ]
    closed = network_cycles(layers, folding, frame)
    out_beats = layers[-1].vectors * layers[-1].out // folding.pe[-1]
    return handshake.chain_cycles(
        chain, input_beats(frame, folding.simd[0]), out_beats, 4 * closed + 1000
    )


def default_target(layers: list[Layer]) -> int:
    """The first layer's best rate with one input channel a beat: ``vectors · K``."""
    first = layers[0]
    return first.fold_cycles(first.out, 1)


def choose_folding(layers: list[Layer], target: int | None = None) -> Folding:
    """Fewest lanes ``Σ PE·SIMD`` whose every layer takes at most ``target`` cycles."""
    goal = default_target(layers) if target is None else int(target)
    if goal < 1:
        raise ConfigError(f"target cycles per image must be positive, got {goal}")
    best: Folding | None = None
    for simd0 in divisors(layers[0].channels):
        for pes in itertools.product(*(divisors(layer.out) for layer in layers)):
            simds = (simd0, *pes[:-1])
            if any(layer.channels % s for layer, s in zip(layers, simds, strict=True)):
                continue
            cycles = [
                layer.fold_cycles(p, s) for layer, p, s in zip(layers, pes, simds, strict=True)
            ]
            if max(cycles) > goal:
                continue
            candidate = Folding(tuple(pes), simds)
            if best is None or candidate.lanes < best.lanes:
                best = candidate
    if best is None:
        fastest = min(layer.fold_cycles(layer.out, layer.channels) for layer in layers[:1])
        raise ConfigError(
            f"no folding reaches {goal} cycles per image; the first layer alone needs at "
            f"least {fastest}"
        )
    return best


# ---- the design ----------------------------------------------------------------------


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


PostConfig = RequantConfig | ThresholdConfig


def _units(layers: list[Layer], folding: Folding) -> list[tuple[MvuConfig, PostConfig]]:
    units: list[tuple[MvuConfig, PostConfig]] = []
    for layer, pe, simd in zip(layers, folding.pe, folding.simd, strict=True):
        mvu = MvuConfig(layer.mode, layer.bits, layer.k, layer.out, pe, simd)
        acc_bits = max(mvu.acc_bits or 0, layer.acc_bits)
        mvu = MvuConfig(layer.mode, layer.bits, layer.k, layer.out, pe, simd, acc_bits)
        post: PostConfig
        if layer.post == "threshold":
            post = ThresholdConfig.fit(layer.threshold, layer.direction, acc_bits, pe)
        else:
            post = RequantConfig.fit(
                layer.multiplier, layer.bias, layer.shift, acc_bits, layer.out_bits, layer.relu, pe
            )
        units.append((mvu, post))
    return units


def generate(
    model: onnx.ModelProto,
    directory: str | os.PathLike,
    target: int | None = None,
    window: str = "frame",
) -> Design:
    """Write ``af_network.v``, its memory files and ``design.json`` into ``directory``.

    ``window="frame"``: every layer reads an ``af_window`` frame buffer (closed-form cycle
    model). ``window="line"``: layers ``Layer.line_window`` accepts (no pool before them,
    padding below the kernel, no stride leftovers) read an ``af_linewin`` ring instead,
    loading overlapped with emission; the others keep ``af_window``."""
    layers, frame, in_bits = read_layers(model)
    folding = choose_folding(layers, target)
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


def _post_files(layer: Layer) -> tuple[str, str]:
    """The memory files of the unit after the layer's MVU."""
    if layer.post == "threshold":
        return f"{layer.name}_thresh.hex", f"{layer.name}_dir.hex"
    return f"{layer.name}_mult.hex", f"{layer.name}_bias.hex"


def _write_files(
    out: Path, layers, units, folding: Folding, in_bits: int, kinds: list[str]
) -> None:
    for layer, (mvu, post) in zip(layers, units, strict=True):
        mvu.write_weights(out / f"{layer.name}_weights.hex", layer.weight)
        first, second = _post_files(layer)
        if isinstance(post, ThresholdConfig):
            post.write_params(out / first, out / second, layer.threshold, layer.direction)
        else:
            post.write_params(out / first, out / second, layer.multiplier, layer.bias)
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


def _window_config(layer: Layer, lanes: int, bits: int, kind: str) -> WindowConfig:
    line = layer.line_window(lanes, bits) if kind == "line" else None
    return line if line is not None else layer.window(lanes, bits)


def _layer_summary(layer: Layer, mvu: MvuConfig, post: PostConfig, kind: str) -> dict:
    config = _window_config(layer, mvu.simd, mvu.bits, kind)
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
        "cycles": layer.fold_cycles(mvu.pe, mvu.simd) + LAYER_LATENCY,
        "mvu_cycles": layer.fold_cycles(mvu.pe, mvu.simd),
        "ops": layer.vectors * layer.k * layer.out,
    }


# ---- Verilog -------------------------------------------------------------------------


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


def _instance(module: str, name: str, params: dict[str, object], src: str, dst: str) -> list[str]:
    return [
        f"    {module} #(",
        _params(params),
        f"    ) {name} (",
        "        .clk(clk),",
        "        .rst(rst),",
        f"        .in_valid({src}_valid),",
        f"        .in_ready({src}_ready),",
        f"        .in_data({src}_data),",
        f"        .out_valid({dst}_valid),",
        f"        .out_ready({dst}_ready),",
        f"        .out_data({dst}_data)",
        "    );",
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
    src, src_bits = "s0", in_bits
    for layer, (mvu, rq), kind in zip(layers, units, kinds, strict=True):
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
        config = _window_config(layer, lanes, mvu.bits, kind)
        module = "af_linewin" if isinstance(config, LineWindowConfig) else "af_window"
        lines += _instance(
            module, f"u_{name}_window", config.parameters(), f"{name}_x", f"{name}_win"
        )
        lines += _instance(
            "af_mvu",
            f"u_{name}_mvu",
            mvu.parameters(f"{name}_weights.hex"),
            f"{name}_win",
            f"{name}_acc",
        )
        module = "af_threshold" if layer.post == "threshold" else "af_requant"
        lines += _instance(
            module,
            f"u_{name}_{layer.post}",
            rq.parameters(*_post_files(layer)),
            f"{name}_acc",
            f"{name}_out",
        )
        src, src_bits = f"{name}_out", rq.out_bits
    lines += [
        "",
        f"    assign out_valid = {src}_valid;",
        f"    assign {src}_ready = out_ready;",
        f"    assign out_data = {src}_data;",
        "endmodule",
        "",
        "`default_nettype wire",
        "",
    ]
    return "\n".join(lines)
