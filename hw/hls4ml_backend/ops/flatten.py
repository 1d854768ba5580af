"""ONNX ``Flatten`` → hls4ml: a channels-last map to a vector (a repacking in io_stream;
kernel ``af_flatten``). Its dense consumer reorders its weight columns to match."""

from __future__ import annotations

import numpy as np

from adderflow.errors import ModelFormatError
from adderflow.hw.hls4ml_backend.layouts import HlsTensor
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

HEADER = "nnet_adder_requant.h"

CONFIG = """struct config{index} {{
    static const unsigned n_chan = {n_chan};
    static const unsigned n_pixels = {n_pixels};
}};
"""


def convert(cv, node) -> None:
    if node.attr("axis") != 1:
        raise ModelFormatError(f"layer '{node.label}': only Flatten(axis=1) is supported")
    add_flatten(cv, node, cv.source(node))


def add_flatten(cv, node, src: HlsTensor) -> None:
    """``node``'s output as one vector per sample of ``src`` (also a ``Reshape`` to one)."""
    size = int(np.prod(src.shape))
    pixels = int(np.prod(src.shape[:-1]))
    out = HlsTensor((size,), src.bits, src.chw)
    cv.add(node, "IntFlatten", out, n_chan=src.shape[-1], n_pixels=pixels)


def parts() -> Parts:
    from hls4ml.model.attributes import Attribute

    from adderflow.hw.hls4ml_backend import layers as hl

    class IntFlatten(hl.IntLayer):
        _expected_attributes = [Attribute("n_chan"), Attribute("n_pixels")]

        def initialize(self) -> None:
            a = self.attributes
            self._add_output([a["n_chan"] * a["n_pixels"]])

    class Config(hl.Config):
        layers, text = (IntFlatten,), CONFIG

    class Call(hl.Call):
        layers, header = (IntFlatten,), HEADER
        text = hl.CALL.format(kernel="af_flatten")

    return IntFlatten, (Config, Call)


MAPPINGS.add("Flatten", HlsMapping(convert, parts, HEADER))
