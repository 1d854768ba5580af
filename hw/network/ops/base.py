"""The kinds of RTL mapping an IR op can have, and the reader's state they act on.

``read_layers`` walks the IR's nodes in order and hands each to its op's mapping
(``ops.UNITS``). An accumulating op opens a layer (its MVU mode and window or dense shape);
the op that ends it picks the post unit and its per-channel parameters; a pool is fused
into the next layer's window; a flatten makes the next layer read the whole frame. Each
op module under ``ops/`` instantiates one of these kinds and registers it by op name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from adderflow.errors import AdderflowError, ConfigError, ModelFormatError
from adderflow.fixed import avg_pool_shift, unpack_bits
from adderflow.hw.network.graph import Port, Stage
from adderflow.hw.network.layer import Layer, PostUnit
from adderflow.hw.units.common import BINARY_CODE_BITS
from adderflow.hw.units.mvu import MVU_SOURCES
from adderflow.hw.units.window import WINDOW_SOURCES, pair
from adderflow.sim.view import Node, Tensor


@dataclass
class Pending:
    """An accumulating node waiting for the op that ends its layer."""

    node: Node
    mapping: Accumulating
    frame: tuple[int, int, int]
    pool: int | tuple[int, int]
    flat: bool
    pool_mode: str
    prepool: tuple | None = None
    prepool_frame: tuple[int, int] = (0, 0)


@dataclass
class Walk:
    """The reader's state between nodes: the frame the next layer reads and what is fused
    into its window."""

    frame: tuple[int, int, int]
    layers: list[Layer] = field(default_factory=list)
    pending: Pending | None = None
    pool: int | tuple[int, int] = 1  # an int for a square pool, else (rows, columns)
    flat: bool = False
    pool_mode: str = "max"
    trailing: str = ""  # the last pool or flatten node, named if the model ends with it
    # A max pool that cannot fuse (padding, kernel != stride): (kernel, strides, pads), and
    # the frame it reads; the next layer puts a window and af_maxpool before its own.
    prepool: tuple | None = None
    prepool_frame: tuple[int, int] = (0, 0)


class RtlMapping:
    """What one op becomes in the stream design; ``sources``: the Verilog it needs."""

    sources: tuple[str, ...] = ()
    refusal: str = ""  # why the stream design cannot take the op yet ("" when it can)

    def apply(self, walk: Walk, node: Node) -> None:
        raise NotImplementedError

    def refuses(self, node: Node) -> str:
        """Why the stream design cannot take ``node`` (after ``node 'x' (Op)``), "" when it
        can: the op's ``refusal``, or an attribute its unit lacks."""
        return self.refusal


@dataclass(frozen=True)
class Refused(RtlMapping):
    """An op the stream design has no unit for yet: refused naming the node and ``reason``
    (``read_layers`` refuses it before reading any layer)."""

    refusal: str

    def apply(self, walk: Walk, node: Node) -> None:
        raise ModelFormatError(f"node '{node.label}' ({node.op}) {self.refusal}")


def width(tensor: Tensor, node: Node) -> int:
    """A tensor's code width from the view; a tensor the contract gives none is refused."""
    if tensor.bits is None:
        if node.is_adderflow and tensor is node.out:
            node.attr("out_bits")  # a missing attribute is the cause: name it
        raise ModelFormatError(f"{node.where()}: tensor '{tensor.name}' has no code width")
    return tensor.bits


def strides(node: Node) -> tuple[int, int]:
    """A conv's ``strides`` as ``(rows, columns)`` (the window takes any pair)."""
    values = [int(v) for v in node.attr("strides", [1, 1])]
    if len(values) != 2:
        raise ConfigError(f"node '{node.label}': strides {values} are not (rows, columns)")
    return values[0], values[1]


def pads(node: Node) -> tuple[int, int, int, int]:
    """A conv's ``pads`` as ONNX orders them: ``(top, left, bottom, right)``."""
    values = [int(v) for v in node.attr("pads", [0, 0, 0, 0])]
    if len(values) != 4:
        raise ConfigError(f"node '{node.label}': pads {values} are not (top, left, bottom, right)")
    return values[0], values[1], values[2], values[3]


@dataclass(frozen=True)
class Accumulating(RtlMapping):
    """An MVU layer: ``mode`` (adder | mac | xnor) over a window (``conv``) or the whole
    frame (dense, its columns reordered from ONNX's ``(c, y, x)`` flatten order to the
    stream's ``(y, x, c)``)."""

    mode: str
    conv: bool
    sources: tuple[str, ...] = (*WINDOW_SOURCES, *MVU_SOURCES)

    def apply(self, walk: Walk, node: Node) -> None:
        if walk.pending is not None:
            raise ConfigError(
                f"node '{node.label}': {node.op} follows an accumulator without a "
                "requantizer or threshold"
            )
        self.check_input(node)
        walk.pending = Pending(
            node, self, walk.frame, walk.pool, walk.flat, walk.pool_mode, walk.prepool,
            walk.prepool_frame,
        )  # fmt: skip
        walk.pool, walk.flat, walk.pool_mode, walk.prepool = 1, False, "max", None

    def check_input(self, node: Node) -> None:
        """Refuse an input this layer cannot read."""

    def groups(self, node: Node) -> int:
        """The IR's ``group`` (1 for a dense layer): the window emits a pixel's taps group
        by group and the MVU meets each group's rows with its own taps (af_mvu GROUPS)."""
        return int(node.attr("group", 1)) if self.conv else 1

    def weight(self, node: Node) -> np.ndarray:
        """The weight as integers in the IR's logical shape."""
        return node.const(1, f"weight '{node.proto.input[1]}'")

    def weight_bits(self, node: Node) -> int:
        """Storage width of the weights: the narrowest their values need (at least 2; a
        16-bit weight of -32768 is 16 bits, the PE widens ``x - w`` to b+1 itself)."""
        return max(2, node.inputs[1].value_bits)

    def matrix(self, node: Node, weight: np.ndarray, frame: tuple[int, int, int]) -> tuple:
        """``(matrix [OUT, K] in (ky, kx, c) column order, kernel, strides, pads)``."""
        c, fh, fw = frame
        out = weight.shape[0]
        if self.conv:
            kernel = tuple(int(k) for k in node.attr("kernel_shape"))
            group = self.groups(node)
            if c % group or weight.shape[1] != c // group:
                raise ConfigError(
                    f"node '{node.label}': weight has {weight.shape[1]} channels a group, "
                    f"not {c}/{group}"
                )
            return weight.transpose(0, 2, 3, 1).reshape(out, -1), kernel, strides(node), pads(node)
        if weight.shape[1] != c * fh * fw:
            raise ConfigError(
                f"node '{node.label}': weight has {weight.shape[1]} inputs, not {c * fh * fw}"
            )
        matrix = weight.reshape(out, c, fh, fw).transpose(0, 2, 3, 1).reshape(out, -1)
        return matrix, (fh, fw), (1, 1), (0, 0, 0, 0)

    def layer(self, pending: Pending, post: Node, unit: PostUnit, params: dict) -> Layer:
        node = pending.node
        c, fh, fw = pending.frame
        pool_h, pool_w = pair(pending.pool)
        weight = self.weight(node)
        matrix, kernel, stride, pad = self.matrix(node, weight, pending.frame)
        return Layer(
            name=node.proto.name,
            mode=self.mode,
            channels=c,
            height=fh * pool_h,
            width=fw * pool_w,
            pool=pending.pool,
            pool_mode=pending.pool_mode,
            kernel=kernel,
            stride=stride,
            pad=pad,
            out=weight.shape[0],
            in_bits=width(node.x, node),
            weight_bits=self.weight_bits(node),
            acc_bits=width(node.out, node),
            weight=matrix.astype(np.int64),
            post_unit=unit,
            post_node=post.proto.name,
            params=params,
            out_bits=params["out_bits"],
            groups=self.groups(node),
            prepool=pending.prepool,
            prepool_frame=pending.prepool_frame,
        )


@dataclass(frozen=True)
class BinaryAccumulating(Accumulating):
    """An xnor MVU layer: it reads ±1 codes, and its packed weight bits are unpacked to
    ±1 codes of its logical ``weight_shape`` (``fixed.unpack_bits``: uint8 rows, LSB
    first), stored as single bits in the weight ROM."""

    def check_input(self, node: Node) -> None:
        if not node.x.bipolar:
            raise ConfigError(
                f"{node.where()}: a binary layer must read ±1 codes (a threshold's, "
                "through max pools and flattens only)"
            )

    def weight(self, node: Node) -> np.ndarray:
        packed = super().weight(node)
        shape = tuple(int(d) for d in node.attr("weight_shape"))
        try:
            return unpack_bits(packed, shape)
        except AdderflowError as exc:
            raise ModelFormatError(f"{node.where()}: {exc}") from exc

    def weight_bits(self, node: Node) -> int:
        return 1


@dataclass(frozen=True)
class Post(RtlMapping):
    """The op that ends a layer: its post unit and that unit's per-channel parameters
    (``names``: the node's constant inputs 1 and 2)."""

    unit: Any  # PostUnit
    names: tuple[str, str]

    @property
    def sources(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.unit.sources

    def apply(self, walk: Walk, node: Node) -> None:
        pending = walk.pending
        if pending is None:
            raise ConfigError(f"node '{node.label}': {node.op} without an accumulating layer")
        out = pending.mapping.weight(pending.node).shape[0]
        first, second = (
            node.const(i, f"{name} input '{node.proto.input[i]}'")
            for i, name in enumerate(self.names, start=1)
        )
        first, second = first.astype(np.int64).reshape(-1), second.astype(np.int64).reshape(-1)
        if first.shape != (out,) or second.shape != (out,):
            raise ConfigError(
                f"{node.where()}: per-channel parameters of shapes {first.shape} and "
                f"{second.shape}, expected ({out},) for layer '{pending.node.proto.name}'"
            )
        params = self.params(node, first, second)
        layer = pending.mapping.layer(pending, node, self.unit, params)
        walk.layers.append(layer)
        walk.frame = (layer.out, *layer.window().out_size)
        walk.pending = None

    def params(self, node: Node, first: np.ndarray, second: np.ndarray) -> dict[str, Any]:
        raise NotImplementedError


@dataclass(frozen=True)
class RequantPost(Post):
    """Requantization with its fused ReLU: ``sat(round((acc*M + B) * 2**-shift))``."""

    def params(self, node: Node, first: np.ndarray, second: np.ndarray) -> dict[str, Any]:
        return {
            "multiplier": first,
            "bias": second,
            "shift": int(node.attr("shift")),
            "out_bits": width(node.out, node),
            "relu": bool(node.attr("relu", 0)),
        }


@dataclass(frozen=True)
class ThresholdPost(Post):
    """A sign threshold: ``+1 if direction*acc >= threshold else -1``, ±1 codes out."""

    def params(self, node: Node, first: np.ndarray, second: np.ndarray) -> dict[str, Any]:
        if not np.all(np.abs(second) == 1):
            raise ConfigError(f"{node.where()}: directions must be ±1")
        return {"threshold": first, "direction": second, "out_bits": BINARY_CODE_BITS}


@dataclass(frozen=True)
class Pool(RtlMapping):
    """A pool fused into the next layer's window (kernel = stride, once per layer):
    ``mode`` ``max`` or ``avg`` (a power-of-two area, af_window's mean being a shift)."""

    mode: str
    sources: tuple[str, ...] = WINDOW_SOURCES

    def apply(self, walk: Walk, node: Node) -> None:
        kernel = tuple(int(k) for k in node.attr("kernel_shape"))
        stride = strides(node)
        width(node.out, node)  # the next layer reads this width: a missing one is named here
        if self.mode == "max" and (kernel != stride or any(pads(node))):
            self.stage(walk, node, kernel, stride)
            return
        if self.mode == "avg":
            self.check_avg(node, kernel, stride, walk)
            walk.pool_mode = "avg"
        if kernel != stride or walk.pool != 1 or walk.flat or walk.prepool is not None:
            raise ConfigError(
                f"node '{node.label}': the RTL pools with kernel = stride once per layer, "
                f"got kernel {list(kernel)}, stride {list(stride)}"
            )
        (c, h, w), (kh, kw) = walk.frame, kernel
        if h % kh or w % kw:
            raise ConfigError(f"node '{node.label}': frame {h}x{w} not divisible by {kh}x{kw}")
        # A square pool stays an int (design.json and the HDL parameters as before).
        walk.pool = kh if kh == kw else (kh, kw)
        walk.frame = (c, h // kh, w // kw)
        walk.trailing = node.label

    @staticmethod
    def stage(walk: Walk, node: Node, kernel: tuple, stride: tuple) -> None:
        """A max pool that cannot fuse into the next window (padding, or kernel != stride):
        its own window (padded taps at the minimum code, so padding never wins) and
        af_maxpool, placed before the next layer's window."""
        if walk.pool != 1 or walk.flat or walk.prepool is not None:
            raise ConfigError(
                f"node '{node.label}': a padded or overlapping max pool must read a layer's "
                "output (no pool or flatten before it)"
            )
        c, h, w = walk.frame
        (kh, kw), (sh, sw), (top, left, bottom, right) = kernel, stride, pads(node)
        walk.prepool, walk.prepool_frame = (kernel, stride, pads(node)), (h, w)
        walk.frame = (c, (h + top + bottom - kh) // sh + 1, (w + left + right - kw) // sw + 1)
        walk.trailing = node.label

    @staticmethod
    def check_avg(node: Node, kernel: tuple, stride: tuple, walk: Walk) -> None:
        """A power-of-two area over codes, not ±1 codes (an average of ±1 codes is no ±1
        code for a binary layer to read)."""
        try:
            avg_pool_shift(kernel, stride, node.where())
        except AdderflowError as exc:
            raise ConfigError(str(exc)) from None
        if node.x.bipolar:
            source = walk.layers[-1].name if walk.layers else node.x.name
            raise ConfigError(
                f"{node.where()}: averages the ±1 codes of layer '{source}'; "
                "binary activations are max pooled"
            )


@dataclass
class Tap:
    """A tensor in the stream design's terms (``read_graph``): the stream it is read from
    (``None``: the network's input), what is fused on the way (the ``Walk``: a pool, a
    flatten, an accumulating node waiting for its post unit) and the stream's code width."""

    source: Port | None
    walk: Walk
    bits: int
    joined: tuple[Join, Node, list[Tap]] | None = None  # a join waiting for its post op

    @property
    def clean(self) -> bool:
        """Nothing fused or pending: the stream itself."""
        w = self.walk
        return (
            w.pending is None and w.pool == 1 and not w.flat and w.prepool is None
            and self.joined is None
        )  # fmt: skip


class Join(RtlMapping):
    """An op that joins streams (``read_graph`` hands it every operand's ``Tap``): ``start``
    checks the operands and waits for the op after it, ``finish`` makes their stage."""

    def apply(self, walk: Walk, node: Node) -> None:
        raise ConfigError(f"{node.where()}: a join reads several streams (read_graph's part)")

    immediate = False  # True: ``stage`` makes its stages at once (nothing follows into it)

    def stage(self, stages: list[Stage], node: Node, operands: list[Tap]) -> Tap:
        raise NotImplementedError

    def start(self, node: Node, operands: list[Tap]) -> Tap:
        raise NotImplementedError

    def finish(self, stages: list[Stage], node: Node, tap: Tap, mapping: RtlMapping) -> Tap:
        raise NotImplementedError


class Flatten(RtlMapping):
    """The next layer reads the whole frame as one window."""

    def apply(self, walk: Walk, node: Node) -> None:
        walk.flat, walk.trailing = True, node.label
