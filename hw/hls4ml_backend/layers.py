"""The hls4ml layer and template bases of the op mappings (imports hls4ml).

Each layer's output is an ``ap_int`` of the width the converter read from the IR, and its
weights are ``ap_int`` of the fewest bits holding them, so hls4ml's precision inference
never touches them. Templates only fill a config struct and one call; the arithmetic is in
the kernels of ``hw/hls/``. An op's module (``ops/``) subclasses a layer base for its layer
class and the matching templates with ``layers = (its class,)``.
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


class IntLayer(Layer):
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


class ConvLayer(IntLayer):
    """A window layer with weights ``[n_filt][kh·kw·C/group]``; ``kernel_op`` is the
    kernel's per-tap operation (``af_adder_op``: ``-|x - w|``, ``af_mul_op``: ``x·w``)."""

    _expected_attributes = [Attribute(a) for a in WINDOW] + [
        Attribute("n_filt"),
        Attribute("n_in"),
        Attribute("group"),
        WeightAttribute("weight"),
    ]
    kernel_op = ""

    def initialize(self) -> None:
        a = self.attributes
        self._add_output([a["out_height"], a["out_width"], a["n_filt"]])
        self._add_int_weights("weight", "w{index}")


class DenseLayer(IntLayer):
    """A dense layer with weights ``[n_out][n_in]``; ``kernel_op`` as ``ConvLayer``'s."""

    _expected_attributes = [Attribute("n_in"), Attribute("n_out"), WeightAttribute("weight")]
    kernel_op = ""

    def initialize(self) -> None:
        self._add_output([self.attributes["n_out"]])
        self._add_int_weights("weight", "w{index}")


class PoolLayer(IntLayer):
    """A pool over windows; ``pool_op`` is the kernel's reduction, ``pad`` the code a
    padded tap holds (a max pool's: the smallest code)."""

    _expected_attributes = [Attribute(a) for a in WINDOW] + [Attribute("pad")]
    pool_op = ""

    def initialize(self) -> None:
        a = self.attributes
        self._add_output([a["out_height"], a["out_width"], a["n_chan"]])


# --- templates ----------------------------------------------------------------------------

_WINDOW_FIELDS = "".join(f"    static const unsigned {a} = {{{a}}};\n" for a in WINDOW)

CONV_CONFIG = (
    "struct config{index} {{\n"
    + _WINDOW_FIELDS
    + """    static const unsigned n_filt = {n_filt};
    static const unsigned n_in = {n_in};
    static const unsigned n_out = {n_filt};
    static const unsigned group = {group};
    static const unsigned n_window = filt_height * filt_width * n_chan;
    static const unsigned reuse_factor = {reuse_factor};
    typedef {accum_t} accum_t;
    typedef {weight_t} weight_t;
    typedef nnet::{op} op;
}};
"""
)

DENSE_CONFIG = """struct config{index} {{
    static const unsigned n_in = {n_in};
    static const unsigned n_out = {n_out};
    static const unsigned n_chan = {n_in};
    static const unsigned group = 1;
    static const unsigned n_window = {n_in};
    static const unsigned reuse_factor = {reuse_factor};
    typedef {accum_t} accum_t;
    typedef {weight_t} weight_t;
    typedef nnet::{op} op;
}};
"""

POOL_CONFIG = (
    "struct config{index} {{\n"
    + _WINDOW_FIELDS
    + "    static const unsigned reuse_factor = {reuse_factor};\n"
    + "    static const long long pad = {pad};\n"
    + "    typedef nnet::{pool_op} op;\n"
    + "    static const unsigned shift = {pool_shift};\n"
    + "    static const unsigned sum_bits = {sum_bits};\n}};\n"
)

CALL = "nnet::{kernel}<{{input_t}}, {{output_t}}, {{config}}>({{input}}, {{output}}{{weights}});"


def type_name(layer: Layer, weight: str) -> str:
    return layer.get_weights(weight).type.name


def _weight_name(layer: Layer, weight: str) -> str:
    return layer.get_weights(weight).name


class Config(LayerConfigTemplate):
    """A config template: ``text`` filled with the layer's attributes plus ``extra``."""

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


class Call(FunctionCallTemplate):
    """A function-call template: ``text`` calls the kernel of ``header`` (a file of
    ``hw/hls``, which the op's mapping names) with ``weights``."""

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
        "weight_t": type_name(node, "weight"),
        "op": type(node).kernel_op,
    }


class ConvConfig(Config):
    text = CONV_CONFIG
    extra = staticmethod(_accumulating)


class DenseConfig(Config):
    text = DENSE_CONFIG
    extra = staticmethod(_accumulating)


class PoolConfig(Config):
    text = POOL_CONFIG

    def extra(self, node: Layer) -> dict[str, Any]:
        """The reduction; a mean's sum is exact in the code width plus ``log2`` of the area."""
        shift = node.get_attr("shift", 0)
        return {
            "pool_op": type(node).pool_op,
            "pool_shift": shift,
            "sum_bits": node.get_attr("out_bits") + shift,
        }


class ConvCall(Call):
    text = CALL.format(kernel="af_conv2d")
    weights = ("weight",)


class DenseCall(Call):
    text = CALL.format(kernel="af_dense")
    weights = ("weight",)


class PoolCall(Call):
    text = CALL.format(kernel="af_pool2d")


def op_parts(
    name: str, layer: type[Layer], config: type[Config], call: type[Call], header: str,
    **attrs: Any,
) -> tuple[type[Layer], tuple[type, type]]:  # fmt: skip
    """An op's layer class ``name`` (a subclass of ``layer`` with ``attrs``, e.g. its
    ``kernel_op``) and its config and call templates (subclasses of ``config`` and ``call``
    for that class, the call including ``header``)."""
    cls = type(name, (layer,), {"__module__": layer.__module__, **attrs})
    return cls, (
        type(f"{name}Config", (config,), {"layers": (cls,)}),
        type(f"{name}Call", (call,), {"layers": (cls,), "header": header}),
    )


# --- element-wise and join layers ---------------------------------------------------------


class ShapedLayer(IntLayer):
    """A layer whose output shape (channels-last) the converter gives as ``out_shape``;
    io_stream carries it as ``n_pixels`` packets of ``n_chan`` codes."""

    _expected_attributes = [
        Attribute("out_shape", value_type=list),
        Attribute("n_pixels"),
        Attribute("n_chan"),
    ]

    def initialize(self) -> None:
        self._add_output([int(d) for d in self.attributes["out_shape"]])


# The fields every element-wise config has; an op's config text adds its own.
SHAPED_CONFIG = """    static const unsigned n_pixels = {n_pixels};
    static const unsigned n_chan = {n_chan};
    static const unsigned n_elem = n_pixels * n_chan;
    static const unsigned reuse_factor = {reuse_factor};
    static const unsigned out_bits = {out_bits};
"""

JOIN_CALL = (
    "nnet::{kernel}<{{input1_t}}, {{input2_t}}, {{output_t}}, {{config}}>"
    "({{input1}}, {{input2}}, {{output}});"
)


class JoinCall(Call):
    """A call of a two-input kernel: ``input1``/``input2`` (and their types) are the
    layer's inputs in the IR's operand order."""

    def format(self, node: Layer) -> str:
        params = self._default_function_params(node)
        for i, name in enumerate(node.inputs, 1):
            var = node.get_input_variable(name)
            params[f"input{i}"], params[f"input{i}_t"] = var.name, var.type.name
        params["weights"] = "".join(f", {_weight_name(node, w)}" for w in self.weights)
        return self.template.format(**params)
