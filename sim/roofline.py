"""Roofline-style view of a dataflow pipeline: which layer bounds throughput.

In a streaming dataflow design (our RTL network, FINN, hls4ml ``io_stream``) every layer
works on a different image at the same time, so in steady state the pipeline takes one
image every ``max_l cycles_l`` cycles: its initiation interval. The layer with the most
cycles is the bottleneck; every other layer idles for part of each interval. Its "roof" is
its lane count (``PE·SIMD`` terms a cycle, the most it can do); what it achieves inside the
pipeline is ``ops_l / interval``. Speeding up any layer but the bottleneck buys nothing.

Input: one mapping per layer with ``name``, ``cycles`` (per image, steady state) and
``ops`` (per image), optionally ``lanes`` (the ops/cycle ceiling). ``from_design`` reads
the RTL stage's ``metrics["rtl"]["design"]`` (``adderflow.hw.network``), whose
``mvu_cycles`` is ``vectors·(OUT/PE)·(K/SIMD)`` (``adderflow.hw.rtlgen.mvu_cycles`` less
its fill latency, which overlaps between images) and whose ``ops`` are terms.

Torch-free; matplotlib is imported only by ``plot``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from adderflow.errors import ConfigError


@dataclass(frozen=True)
class LayerRate:
    """One layer's work and time per image."""

    name: str
    cycles: int
    ops: int
    lanes: int | None = None  # ops a cycle at most (PE·SIMD), when known

    @property
    def ops_per_cycle(self) -> float:
        """The layer's rate while it works."""
        return self.ops / self.cycles


@dataclass(frozen=True)
class Roofline:
    """Per-layer rates of a pipeline and the layer that sets its interval."""

    layers: tuple[LayerRate, ...]

    @property
    def bottleneck(self) -> LayerRate:
        """The layer with the most cycles; the first of equals, in pipeline order."""
        return max(self.layers, key=lambda layer: layer.cycles)

    @property
    def bottlenecks(self) -> tuple[LayerRate, ...]:
        """Every layer that takes the whole interval (ties happen: folding targets one rate)."""
        return tuple(layer for layer in self.layers if layer.cycles == self.interval)

    @property
    def interval(self) -> int:
        """Cycles between images in steady state."""
        return self.bottleneck.cycles

    @property
    def ops(self) -> int:
        return sum(layer.ops for layer in self.layers)

    @property
    def ops_per_cycle(self) -> float:
        """The whole pipeline's ops a cycle in steady state."""
        return self.ops / self.interval

    def busy(self, layer: LayerRate) -> float:
        """Fraction of each interval the layer works."""
        return layer.cycles / self.interval

    def achieved(self, layer: LayerRate) -> float:
        """The layer's ops a cycle inside the pipeline (it gets one image per interval)."""
        return layer.ops / self.interval

    def images_per_second(self, fmax_mhz: float) -> float:
        return fmax_mhz * 1e6 / self.interval

    def rows(self) -> list[dict[str, Any]]:
        return [
            {
                "name": layer.name,
                "cycles": layer.cycles,
                "ops": layer.ops,
                "lanes": layer.lanes,
                "ops_per_cycle": layer.ops_per_cycle,
                "busy": self.busy(layer),
                "achieved_ops_per_cycle": self.achieved(layer),
                "utilization": self.achieved(layer) / layer.lanes if layer.lanes else None,
                "bottleneck": layer.cycles == self.interval,
            }
            for layer in self.layers
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "layers": self.rows(),
            "bottleneck": self.bottleneck.name,
            "bottlenecks": [layer.name for layer in self.bottlenecks],
            "interval_cycles": self.interval,
            "ops_per_cycle": self.ops_per_cycle,
        }

    def format_table(self) -> str:
        head = ("layer", "cycles", "ops", "lanes", "ops/cycle", "busy", "in pipeline", "")
        rows = [head] + [_text_row(row) for row in self.rows()]
        widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
        lines = [
            "  ".join(
                c.rjust(w) if i else c.ljust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
            for row in rows
        ]
        summary = (
            f"bottleneck: {', '.join(layer.name for layer in self.bottlenecks)}, "
            f"{self.interval:,} cycles per image; "
            f"pipeline {self.ops_per_cycle:.2f} ops/cycle"
        )
        return "\n".join([*lines, summary])


def _text_row(row: Mapping[str, Any]) -> tuple[str, ...]:
    return (
        row["name"],
        f"{row['cycles']:,}",
        f"{row['ops']:,}",
        "—" if row["lanes"] is None else str(row["lanes"]),
        f"{row['ops_per_cycle']:.2f}",
        f"{100 * row['busy']:.0f}%",
        f"{row['achieved_ops_per_cycle']:.2f}",
        "◀ bottleneck" if row["bottleneck"] else "",
    )


def _count(entry: Mapping[str, Any], key: str, where: str, minimum: int) -> int:
    value = entry.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: '{key}' must be an integer >= {minimum}, got {value!r}")
    return value


def _layer(entry: Mapping[str, Any], index: int) -> LayerRate:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"roofline layer {index} must be a mapping, got {entry!r}")
    name = entry.get("name")
    where = f"roofline layer {index} ({name!r})" if name else f"roofline layer {index}"
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{where}: 'name' must be a non-empty string")
    lanes = entry.get("lanes")
    return LayerRate(
        name,
        _count(entry, "cycles", where, 1),
        _count(entry, "ops", where, 0),
        None if lanes is None else _count(entry, "lanes", where, 1),
    )


def roofline(layers: Iterable[Mapping[str, Any]]) -> Roofline:
    """The pipeline view of per-layer ``{name, cycles, ops[, lanes]}``; bad input is a
    ConfigError naming the layer and key."""
    rates = tuple(_layer(entry, i) for i, entry in enumerate(layers))
    if not rates:
        raise ConfigError("roofline needs at least one layer")
    return Roofline(rates)


def from_design(design: Mapping[str, Any]) -> Roofline:
    """The RTL design summary (``metrics["rtl"]["design"]``): steady-state MVU cycles,
    terms as ops and ``PE·SIMD`` lanes per layer."""
    layers = design.get("layers") if isinstance(design, Mapping) else None
    if not layers:
        raise ConfigError("RTL design summary has no 'layers'")
    return roofline(
        {
            "name": layer.get("name"),
            "cycles": layer.get("mvu_cycles", layer.get("cycles")),
            "ops": layer.get("ops"),
            "lanes": layer["pe"] * layer["simd"] if "pe" in layer and "simd" in layer else None,
        }
        for layer in layers
    )


def plot(view: Roofline, highlight: str = "#e76f51", other: str = "#2a9d8f"):
    """Two panels: cycles per layer (the bottleneck highlighted, the interval as a line) and
    each layer's roof (lanes) against the ops/cycle it achieves in the pipeline."""
    import matplotlib.pyplot as plt

    names = [layer.name for layer in view.layers]
    y = list(range(len(names)))
    colors = [highlight if layer.cycles == view.interval else other for layer in view.layers]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 0.45 * len(names) + 1.4), sharey=True)
    left.barh(y, [layer.cycles for layer in view.layers], color=colors)
    left.axvline(view.interval, color=highlight, linestyle="--", linewidth=1)
    left.set_yticks(y, names)
    left.invert_yaxis()
    left.set_xlabel("cycles per image (steady state)")
    roofs = [layer.lanes or layer.ops_per_cycle for layer in view.layers]
    right.barh(y, roofs, color="#cccccc", label="roof: lanes (ops/cycle)")
    right.barh(
        y,
        [view.achieved(layer) for layer in view.layers],
        0.5,
        color=colors,
        label="achieved in the pipeline",
    )
    right.set_xlabel("ops per cycle")
    right.legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    return fig
