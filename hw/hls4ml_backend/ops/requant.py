"""``Requant`` → hls4ml: per-channel ``sat(round_half_even((acc * M + B) * 2^-shift))``
with its fused ReLU (kernel ``af_requant``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from adderflow.errors import ModelFormatError
from adderflow.hw.hls4ml_backend.layouts import HlsTensor, const_bits, out_bits
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

HEADER = "nnet_adder_requant.h"

# scaled_t reads prod_t's bits with `shift` fraction bits; round_t rounds half to even and
# saturates to out_bits (DESIGN.md rules 4-5).
CONFIG = """struct config{index} {{
    static const unsigned n_chan = {n_chan};
    static const unsigned n_pixels = {n_pixels};
    static const unsigned reuse_factor = {reuse_factor};
    static const unsigned prod_bits = {prod_bits};
    static const bool relu = {relu};
    typedef {mult_t} mult_t;
    typedef {bias_t} bias_t;
    typedef ap_int<{prod_bits}> prod_t;
    typedef ap_fixed<{prod_bits}, {scaled_int_bits}> scaled_t;
    typedef ap_fixed<{out_bits}, {out_bits}, AP_RND_CONV, AP_SAT> round_t;
}};
"""


def convert(cv, node) -> None:
    src = cv.source(node)
    m, b = cv.weight(node, 1).reshape(-1), cv.weight(node, 2).reshape(-1)
    if not len(m) == len(b) == src.shape[-1]:
        raise ModelFormatError(
            f"layer '{node.label}': {len(m)} multipliers for {src.shape[-1]} channels"
        )
    shift = node.attr("shift")
    m_bits, b_bits = const_bits(node, 1), const_bits(node, 2)
    # acc * M + B exactly, and at least shift + 2 bits so the fixed-point view keeps a sign
    # bit and an integer bit whatever the shift.
    prod_bits = max(max(src.bits + m_bits, b_bits) + 1, shift + 2)
    out = HlsTensor(src.shape, out_bits(node), src.chw)
    cv.add(node, "IntRequant", out, n_chan=len(m), n_pixels=int(np.prod(src.shape[:-1])),
           mult_data=m, bias_data=b, mult_bits=m_bits, bias_bits=b_bits, shift=shift,
           prod_bits=prod_bits, relu=bool(node.attr("relu")))  # fmt: skip


def parts() -> Parts:
    from hls4ml.model.attributes import Attribute, WeightAttribute

    from adderflow.hw.hls4ml_backend import layers as hl

    class IntRequant(hl.IntLayer):
        _expected_attributes = [
            Attribute("n_chan"),
            Attribute("n_pixels"),
            Attribute("shift"),
            Attribute("prod_bits"),
            Attribute("relu", value_type=bool),
            WeightAttribute("mult"),
            WeightAttribute("bias"),
        ]

        def initialize(self) -> None:
            self._add_output(list(self.get_input_variable().shape))
            self._add_int_weights("mult", "m{index}")
            self._add_int_weights("bias", "b{index}")

    class Config(hl.Config):
        layers, text = (IntRequant,), CONFIG

        def extra(self, node: Any) -> dict[str, Any]:
            return {
                "mult_t": hl.type_name(node, "mult"),
                "bias_t": hl.type_name(node, "bias"),
                "scaled_int_bits": node.get_attr("prod_bits") - node.get_attr("shift"),
            }

    class Call(hl.Call):
        layers, header = (IntRequant,), HEADER
        text = hl.CALL.format(kernel="af_requant")
        weights = ("mult", "bias")

    return IntRequant, (Config, Call)


MAPPINGS.add("Requant", HlsMapping(convert, parts, HEADER))
