"""hls4ml layer classes and templates for the adderflow ops (imports hls4ml).

Each layer's output is an ``ap_int`` of the width the converter read from the IR, and its
weights are ``ap_int`` of the fewest bits holding them, so hls4ml's precision inference
never touches them. Templates only fill a config struct and one call; the arithmetic is in
the kernels of ``hw/hls/``.
"""

from __future__ import annotations

from typing import Any

from hls4ml.backends.template import FunctionCallTemplate, LayerConfigTemplate
from hls4ml.model.attributes import Attribute, ConfigurableAttribute, WeightAttribute
from hls4ml.model.layers import Layer
from hls4ml.model.types import IntegerPrecisionType

WINDOW = (
    "in_height", "in_width", "n_chan", "out_height", "out_width", "filt_height", "filt_width",
    "stride_height", "stride_width", "pad_top", "pad_left", "pad_bottom", "pad_right",
    "max_rows_per_input",
)  # fmt: skip


def _int(bits: int) -> IntegerPrecisionType:
    return IntegerPrecisionType(width=int(bits), signed=True)


class _IntLayer(Layer):
    """An integer-code layer: its output is ``ap_int<out_bits>``."""

    _expected_attributes = [
        Attribute("out_bits"),
        ConfigurableAttribute("reuse_factor", default=1),
    ]

    def _add_output(self, shape: list[int]) -> None:
        self.add_output_variable(shape, precision=_int(self.get_attr("out_bits")))

    def _add_int_weights(self, name: str, var_name: str) -> None:
        precision = _int(self.get_attr(f"{name}_bits"))
        self.add_weights_variable(name=name, var_name=var_name, data=name, precision=precision)


class AdderConv2D(_IntLayer):
    """``AdderConv``: ``-sum |window - filter|``, zero padding taking part."""

    _expected_attributes = [Attribute(a) for a in WINDOW] + [
        Attribute("n_filt"),
        Attribute("n_in"),
        WeightAttribute("weight"),
    ]
    kernel_op = "af_adder_op"

    def initialize(self) -> None:
        a = self.attributes
        self._add_output([a["out_height"], a["out_width"], a["n_filt"]])
        self._add_int_weights("weight", "w{index}")


class IntConv2D(AdderConv2D):
    """``IntConv``: the same window machinery with products (first layer)."""

    kernel_op = "af_mul_op"


class AdderDense(_IntLayer):
    """``AdderGemm``: ``-sum_k |x_k - w_ok|``."""

    _expected_attributes = [Attribute("n_in"), Attribute("n_out"), WeightAttribute("weight")]
    kernel_op = "af_adder_op"

    def initialize(self) -> None:
        self._add_output([self.attributes["n_out"]])
        self._add_int_weights("weight", "w{index}")


class IntDense(AdderDense):
    """``IntGemm``: the classifier's products."""

    kernel_op = "af_mul_op"


class IntRequant(_IntLayer):
    """``Requant``: per-channel ``sat(round_half_even((acc * M + B) * 2^-shift))``."""

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


class IntMaxPool2D(_IntLayer):
    """``IntMaxPool``: max over windows, no padding."""

    _expected_attributes = [Attribute(a) for a in WINDOW]

    def initialize(self) -> None:
        a = self.attributes
        self._add_output([a["out_height"], a["out_width"], a["n_chan"]])


class IntAvgPool2D(_IntLayer):
    """``IntAvgPool``: ``round_half_even(sum / 2**shift)`` over windows, no padding."""

    _expected_attributes = [Attribute(a) for a in WINDOW] + [Attribute("shift")]

    def initialize(self) -> None:
        a = self.attributes
        self._add_output([a["out_height"], a["out_width"], a["n_chan"]])


class IntFlatten(_IntLayer):
    """``Flatten``: channels-last map to a vector (a repacking in io_stream)."""

    _expected_attributes = [Attribute("n_chan"), Attribute("n_pixels")]

    def initialize(self) -> None:
        a = self.attributes
        self._add_output([a["n_chan"] * a["n_pixels"]])


LAYERS: dict[str, type[Layer]] = {
    cls.__name__: cls
    for cls in (
        AdderConv2D,
        IntConv2D,
        AdderDense,
        IntDense,
        IntRequant,
        IntMaxPool2D,
        IntAvgPool2D,
        IntFlatten,
    )  # fmt: skip
}

# --- templates ----------------------------------------------------------------------------

_WINDOW_FIELDS = "".join(f"    static const unsigned {a} = {{{a}}};\n" for a in WINDOW)

_CONV_CONFIG = (
    "struct config{index} {{\n"
    + _WINDOW_FIELDS
    + """    static const unsigned n_filt = {n_filt};
    static const unsigned n_in = {n_in};
    static const unsigned n_out = {n_filt};
    static const unsigned reuse_factor = {reuse_factor};
    typedef {accum_t} accum_t;
    typedef {weight_t} weight_t;
    typedef nnet::{op} op;
}};
"""
)

_DENSE_CONFIG = """struct config{index} {{
    static const unsigned n_in = {n_in};
    static const unsigned n_out = {n_out};
    static const unsigned reuse_factor = {reuse_factor};
    typedef {accum_t} accum_t;
    typedef {weight_t} weight_t;
    typedef nnet::{op} op;
}};
"""

# scaled_t reads prod_t's bits with `shift` fraction bits; round_t rounds half to even and
# saturates to out_bits (DESIGN.md rules 4-5).
_REQUANT_CONFIG = """struct config{index} {{
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

_POOL_CONFIG = (
    "struct config{index} {{\n"
    + _WINDOW_FIELDS
    + "    static const unsigned reuse_factor = {reuse_factor};\n"
    + "    typedef nnet::{pool_op} op;\n"
    + "    static const unsigned shift = {pool_shift};\n"
    + "    static const unsigned sum_bits = {sum_bits};\n}};\n"
)

_FLATTEN_CONFIG = """struct config{index} {{
    static const unsigned n_chan = {n_chan};
    static const unsigned n_pixels = {n_pixels};
}};
"""


def _type_name(layer: Layer, weight: str) -> str:
    return layer.get_weights(weight).type.name


def _weight_name(layer: Layer, weight: str) -> str:
    return layer.get_weights(weight).name


class _Config(LayerConfigTemplate):
    layers: tuple[type[Layer], ...] = ()
    text = ""

    def __init__(self) -> None:
        super().__init__(self.layers)
        self.template = self.text

    def format(self, node: Layer) -> str:
        params = self._default_config_params(node)
        params.update(self.extra(node))
        return self.template.format(**params)

    def extra(self, node: Layer) -> dict[str, Any]:
        return {}


class _Call(FunctionCallTemplate):
    layers: tuple[type[Layer], ...] = ()
    header = ""
    text = ""
    weights: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__(self.layers, include_header=[f"nnet_utils/{self.header}"])
        self.template = self.text

    def format(self, node: Layer) -> str:
        params = self._default_function_params(node)
        params["weights"] = "".join(f", {_weight_name(node, w)}" for w in self.weights)
        return self.template.format(**params)


def _accumulating(node: Layer) -> dict[str, Any]:
    return {
        # The element type: in io_stream the output variable's type is the packet array.
        "accum_t": f"ap_int<{node.get_attr('out_bits')}>",
        "weight_t": _type_name(node, "weight"),
        "op": type(node).kernel_op,
    }


class ConvConfig(_Config):
    layers = (AdderConv2D, IntConv2D)
    text = _CONV_CONFIG
    extra = staticmethod(_accumulating)


class DenseConfig(_Config):
    layers = (AdderDense, IntDense)
    text = _DENSE_CONFIG
    extra = staticmethod(_accumulating)


class RequantConfig(_Config):
    layers = (IntRequant,)
    text = _REQUANT_CONFIG

    def extra(self, node: Layer) -> dict[str, Any]:
        return {
            "mult_t": _type_name(node, "mult"),
            "bias_t": _type_name(node, "bias"),
            "scaled_int_bits": node.get_attr("prod_bits") - node.get_attr("shift"),
        }


class PoolConfig(_Config):
    layers = (IntMaxPool2D, IntAvgPool2D)
    text = _POOL_CONFIG

    def extra(self, node: Layer) -> dict[str, Any]:
        """Max or mean; the mean's sum is exact in the code width plus ``log2`` of the area."""
        shift = node.get_attr("shift", 0) if isinstance(node, IntAvgPool2D) else 0
        return {
            "pool_op": "af_pool_avg" if isinstance(node, IntAvgPool2D) else "af_pool_max",
            "pool_shift": shift,
            "sum_bits": node.get_attr("out_bits") + shift,
        }


class FlattenConfig(_Config):
    layers = (IntFlatten,)
    text = _FLATTEN_CONFIG


_CALL = "nnet::{kernel}<{{input_t}}, {{output_t}}, {{config}}>({{input}}, {{output}}{{weights}});"


class ConvCall(_Call):
    layers = (AdderConv2D, IntConv2D)
    header = "nnet_adder_conv2d.h"
    text = _CALL.format(kernel="af_conv2d")
    weights = ("weight",)


class DenseCall(_Call):
    layers = (AdderDense, IntDense)
    header = "nnet_adder_dense.h"
    text = _CALL.format(kernel="af_dense")
    weights = ("weight",)


class RequantCall(_Call):
    layers = (IntRequant,)
    header = "nnet_adder_requant.h"
    text = _CALL.format(kernel="af_requant")
    weights = ("mult", "bias")


class PoolCall(_Call):
    layers = (IntMaxPool2D, IntAvgPool2D)
    header = "nnet_adder_pool.h"
    text = _CALL.format(kernel="af_pool2d")


class FlattenCall(_Call):
    layers = (IntFlatten,)
    header = "nnet_adder_requant.h"
    text = _CALL.format(kernel="af_flatten")


TEMPLATES = (
    ConvConfig, DenseConfig, RequantConfig, PoolConfig, FlattenConfig,
    ConvCall, DenseCall, RequantCall, PoolCall, FlattenCall,
)  # fmt: skip
