"""What an hls4ml mapping of one IR op holds (the table is ``ops.MAPPINGS``).

Each op's module under ``ops/`` registers one ``HlsMapping``: the conversion of its IR node
into an hls4ml layer dict (pure Python, ``convert`` needs no hls4ml), the hls4ml layer
class with its config and function-call templates (built on first use, since they import
hls4ml), and the C++ header of ``hw/hls/`` holding its kernel. An op hls4ml cannot take
yet registers a refusal with its reason instead, so it is refused by name, not as unknown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adderflow.hw.hls4ml_backend.convert import Converter
    from adderflow.sim.view import Node

# The hls4ml side of a mapping: its layer class and template classes.
Parts = tuple[type, tuple[type, ...]]


@dataclass(frozen=True)
class HlsMapping:
    """``convert`` adds the node's layer to the conversion; ``parts`` builds the hls4ml
    layer class and its templates; ``header`` names the kernel's C++ header. A refusal
    has only ``refusal``: why the backend cannot take the op (after ``layer 'x' (Op)``).
    ``refuses`` gives the same for one node of an op it takes otherwise (an attribute the
    kernel lacks), "" for a node it takes."""

    convert: Callable[[Converter, Node], None] | None = None
    parts: Callable[[], Parts] | None = None
    header: str = ""
    refusal: str = ""
    refuses: Callable[[Node], str] | None = None

    def __post_init__(self) -> None:
        if self.parts is not None:
            object.__setattr__(self, "parts", cache(self.parts))

    def hls4ml_parts(self) -> Parts | None:
        return None if self.parts is None else self.parts()

    def refusal_of(self, node: Node) -> str:
        """Why the backend cannot take ``node``, "" when it can."""
        return self.refusal or (self.refuses(node) if self.refuses is not None else "")


# Why the binary ops have no hls4ml mapping yet.
NO_BINARY_LAYERS = (
    "is binary: adderflow's hls4ml extension has no XNOR/popcount or threshold layer yet "
    "(DESIGN.md rule 6)"
)


def refused(reason: str) -> HlsMapping:
    return HlsMapping(refusal=reason)
