"""Shared plumbing of adderflow's QONNX custom ops (domain ``adderflow``).

Each op is one class in its own module holding everything the simulation and export side
knows of it: typed attributes, a shape stand-in, datatype inference, an ``execute_node``
that unpacks the context and calls the NumPy reference, and the three concerns the generic
walkers dispatch to: ``check`` (its load-time checks, every width bound of the numeric
contract; ``executor.check_contract``), ``cost`` (its counting rule; ``sim.cost``) and
``lower`` (its standard-ONNX subgraph; ``export.lower_standard``). The walkers never name an
op: they ask the op class, and its traits below, instead. An op lacking a concern is refused
by name at the walker that needs it (``IntegerOp.concern``). The accumulating layers share
theirs, chosen by their traits (``sim/ops/layer.py``). ``verify_node`` raises instead
of returning strings, so a malformed node is an error naming the node, never a silently
ignored message.
"""

from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper
from qonnx.core.datatype import DataType
from qonnx.custom_op.base import CustomOp

from adderflow.errors import ModelFormatError

DOMAIN = "adderflow"


# What each concern is called in the error refusing an op that lacks it.
CONCERNS = {"check": "load-time check", "cost": "cost rule", "lower": "standard-ONNX lowering"}


class IntegerOp(CustomOp):
    """An op on int64 code tensors whose output width is the ``out_bits`` attribute."""

    abstract = True  # a shared base, not an op of the IR (``sim.ops`` skips it)
    input_names: tuple[str, ...] = ()
    # Traits the backends ask instead of naming ops.
    bipolar_output = False  # its output is ±1 codes (2-bit)
    keeps_bipolar = False  # ±1 codes in give ±1 codes out (a max pool picks one of them)
    # An accumulating layer: (activation, weight) in, one accumulator per output.
    arithmetic = ""  # "adder" (-Σ|x - w|), "mac" (Σ x·w) or "xnor" (2·popcount − K)
    layout = ""  # "window" (a convolution) or "dense" (a matrix product)
    requantizes = False  # turns an accumulator into codes (rescale, round, saturate)
    integer_cost = False  # its counted operations stay integer under a precision override

    # The concerns, each a classmethod the op module defines (None: the op lacks it).
    # check(node: view.Node) -> None; cost(node: view.Node, g: cost_rules.CountGraph,
    # counted_as: str | None) -> Ops; lower(lw: export.lowering.Lowering, node: view.Node).
    check = None
    cost = None
    lower = None

    @classmethod
    def concern(cls, name: str, where: str = ""):
        """The op's ``check``/``cost``/``lower``; one it lacks is refused naming the op."""
        impl = getattr(cls, name, None)
        if impl is None:
            prefix = f"{where}: " if where else ""
            raise ModelFormatError(f"{prefix}op '{cls.__name__}' has no {CONCERNS[name]}")
        return impl

    @classmethod
    def accumulating(cls) -> bool:
        return bool(cls.arithmetic)

    @classmethod
    def binary(cls) -> bool:
        """A binary layer (DESIGN.md rule 6): ±1 codes in, packed 1-bit weights."""
        return cls.arithmetic == "xnor"

    def out_bits(self) -> int:
        return int(self.get_nodeattr("out_bits"))

    def output_shape(self, input_shapes: list[tuple[int, ...]]) -> tuple[int, ...]:
        raise NotImplementedError

    def make_shape_compatible_op(self, model):
        shapes = [tuple(model.get_tensor_shape(i)) for i in self.onnx_node.input]
        shape = self.output_shape(shapes)
        # A Constant of int64 zeros gives shape inference the right shape *and* type;
        # qonnx's default stand-in (RandomNormal) would retype the tensor as float.
        value = numpy_helper.from_array(np.zeros(shape, dtype=np.int64))
        return helper.make_node("Constant", [], [self.onnx_node.output[0]], value=value)

    def infer_node_datatype(self, model) -> None:
        model.set_tensor_datatype(self.onnx_node.output[0], DataType[f"INT{self.out_bits()}"])

    def verify_node(self) -> list[str]:
        node = self.onnx_node
        if len(node.input) != len(self.input_names):
            raise ModelFormatError(
                f"node '{node.name}' ({node.op_type}) needs inputs {self.input_names}, "
                f"got {len(node.input)}"
            )
        for name in self.get_nodeattr_types():
            self.get_nodeattr(name)  # raises naming the attribute when a required one is absent
        return []

    def inputs(self, context: dict) -> list[np.ndarray]:
        return [context[name] for name in self.onnx_node.input]

    def write(self, context: dict, value: np.ndarray) -> None:
        context[self.onnx_node.output[0]] = value.astype(np.int64)


def conv_output_shape(
    x_shape: tuple[int, ...], w_shape: tuple[int, ...], strides, pads
) -> tuple[int, ...]:
    n, _, h, w = x_shape
    out_ch, _, kh, kw = w_shape
    ho = (h + pads[0] + pads[2] - kh) // strides[0] + 1
    wo = (w + pads[1] + pads[3] - kw) // strides[1] + 1
    return (n, out_ch, ho, wo)


CONV_ATTRS = {
    "kernel_shape": ("ints", True, []),
    "strides": ("ints", False, [1, 1]),
    "pads": ("ints", False, [0, 0, 0, 0]),
    "group": ("i", False, 1),  # ONNX Conv's: weight [O, C/group, kh, kw]
    "out_bits": ("i", True, 0),
}
