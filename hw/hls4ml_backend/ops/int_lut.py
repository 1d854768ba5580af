"""``IntLut`` → hls4ml: ``table[x + 2^(b-1)]`` element-wise, the table the quantizer
computed as an ``ap_int`` weight array (kernel ``af_lut``)."""

from __future__ import annotations

from typing import Any

from adderflow.hw.hls4ml_backend.layouts import HlsTensor, const_bits, out_bits, shaped_attrs
from adderflow.hw.hls4ml_backend.mapping import HlsMapping, Parts
from adderflow.hw.hls4ml_backend.ops import MAPPINGS

HEADER = "nnet_adder_merge.h"


def convert(cv, node) -> None:
    src, table = cv.source(node), cv.weight(node, 1).reshape(-1)
    out = HlsTensor(src.shape, out_bits(node), src.chw, src.ir_shape)
    cv.add(node, "IntLut", out, table_data=table, table_bits=const_bits(node, 1),
           n_table=len(table), offset=1 << (src.bits - 1), **shaped_attrs(out))  # fmt: skip


def parts() -> Parts:
    from hls4ml.model.attributes import Attribute, WeightAttribute

    from adderflow.hw.hls4ml_backend import layers as hl

    class IntLut(hl.ShapedLayer):
        _expected_attributes = [Attribute("n_table"), Attribute("offset"), WeightAttribute("table")]

        def initialize(self) -> None:
            super().initialize()
            self._add_int_weights("table", "t{index}")

    class Config(hl.Config):
        layers = (IntLut,)
        text = (
            "struct config{index} {{\n" + hl.SHAPED_CONFIG
            + "    static const unsigned n_table = {n_table};\n"
            + "    static const unsigned offset = {offset};\n"
            + "    typedef {table_t} table_t;\n}};\n"
        )  # fmt: skip

        def extra(self, node: Any) -> dict[str, Any]:
            return {"table_t": hl.type_name(node, "table")}

    class Call(hl.Call):
        layers, header = (IntLut,), HEADER
        text = hl.CALL.format(kernel="af_lut")
        weights = ("table",)

    return IntLut, (Config, Call)


MAPPINGS.add("IntLut", HlsMapping(convert, parts, HEADER))
