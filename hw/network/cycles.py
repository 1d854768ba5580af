"""Folding and the cycle model of a stream network.

Folding: the stream between two layers carries ``PE`` channels of the producer a beat, so
a layer's ``SIMD`` equals the previous layer's ``PE`` (no width converters needed); the
first layer's ``SIMD`` is the input lanes. ``choose_folding`` searches every divisor choice
for the fewest lanes (``Σ PE·SIMD``) whose slowest layer meets a cycle target.

Cycle model (one image, input always valid, output always ready, counted from the first
input transfer to the last output transfer inclusive)::

    cycles = input_beats + Σ_layers (vectors · NF · SF + Layer.latency)

``Layer.latency`` takes each unit's latency from its module: window (2: last write → first
window beat) + MVU (3) + the post unit (3, requantizer or threshold unit, equally deep) − 1
(the window's first beat is the MVU's first issue). With a line window anywhere, layers
overlap and back-pressure each other, so no sum holds: ``handshake_cycles`` steps the
units' handshakes (``adderflow.hw.handshake``), which reduces to the sum above when every
window is a frame window.
"""

from __future__ import annotations

import itertools
import math

from adderflow.errors import ConfigError
from adderflow.hw import handshake
from adderflow.hw.network.layer import Folding, Layer
from adderflow.hw.units.maxpool import MaxPoolConfig
from adderflow.hw.units.mvu import MVU_LATENCY
from adderflow.hw.units.requant import REQUANT_LATENCY
from adderflow.hw.units.threshold import THRESHOLD_LATENCY
from adderflow.hw.units.window import WINDOW_LATENCY

# Every layer's latency today: the threshold unit is as deep as the requantizer on purpose.
LAYER_LATENCY = WINDOW_LATENCY + MVU_LATENCY + REQUANT_LATENCY - 1
assert THRESHOLD_LATENCY == REQUANT_LATENCY
WINDOWS = ("frame", "line")  # generate(window=...): af_window everywhere, or af_linewin

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
        layer.prepool_cycles(simd) + layer.fold_cycles(pe, simd) + layer.latency
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
        pool = layer.pool_window(simd)
        if pool is not None:  # a padded max pool: its window, then af_maxpool
            chain += [handshake.FrameWindow(pool), MaxPoolConfig.after(pool).model()]
        chain += [
            handshake.LineWindow(line) if line else handshake.FrameWindow(layer.window(simd)),
            handshake.Mvu(layer.k // simd, layer.out // (pe * layer.groups)),
            handshake.Post(),
        ]
    closed = network_cycles(layers, folding, frame)
    out_beats = layers[-1].vectors * layers[-1].out // folding.pe[-1]
    return handshake.chain_cycles(
        chain, input_beats(frame, folding.simd[0]), out_beats, 4 * closed + 1000
    )


def default_target(layers: list[Layer]) -> int:
    """The first layer's best rate with one input channel a beat (``vectors · K``), or the
    slowest later layer's fully parallel rate where that is slower (a cheap first layer,
    e.g. an imported network's 1×1 sign stem, must not set a target nothing reaches)."""
    first = layers[0]
    # A list, not max(a, *rest): a one-layer network has no later layers.
    return max([first.fold_cycles(_widest_pes(layers)[0], 1), *_fastest(layers)[1:]])


def _widest_pes(layers: list[Layer]) -> list[int]:
    """Each layer's widest PE: it divides the layer's outputs a group and the next layer's
    channels a group (the next layer's SIMD is this PE)."""
    nexts = [ly.channels // ly.groups for ly in layers[1:]]
    return [
        math.gcd(ly.out // ly.groups, *nexts[i : i + 1]) for i, ly in enumerate(layers)
    ]


def _fastest(layers: list[Layer]) -> list[int]:
    """Each layer's cycles in the most parallel folding: every layer's widest PE
    (``_widest_pes``), and every layer reading as many lanes as the layer before it writes
    (the first: all its channels a group). Every layer reaches its figure in one folding."""
    pes = _widest_pes(layers)
    simds = (layers[0].channels // layers[0].groups, *pes[:-1])
    return [ly.fold_cycles(p, s) for ly, p, s in zip(layers, pes, simds, strict=True)]


def choose_folding(layers: list[Layer], target: int | None = None) -> Folding:
    """Fewest lanes ``Σ PE·SIMD`` whose every layer takes at most ``target`` cycles."""
    goal = default_target(layers) if target is None else int(target)
    if goal < 1:
        raise ConfigError(f"target cycles per image must be positive, got {goal}")
    best: Folding | None = None
    for simd0 in divisors(layers[0].channels):
        # A grouped layer's PE divides a group's outputs and its SIMD a group's channels.
        for pes in itertools.product(*(divisors(ly.out // ly.groups) for ly in layers)):
            simds = (simd0, *pes[:-1])
            if any(ly.channels % (s * ly.groups) for ly, s in zip(layers, simds, strict=True)):
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
        fastest = _fastest(layers)
        slowest = max(range(len(layers)), key=fastest.__getitem__)
        raise ConfigError(
            f"no folding reaches {goal} cycles per image; layer '{layers[slowest].name}' "
            f"alone needs at least {fastest[slowest]}"
        )
    return best
