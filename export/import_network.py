"""A quantized ONNX model made elsewhere → ``QuantizedNetwork``, exactly or not at all.

``network_from_onnx(path)`` reads a brevitas ``export_qonnx`` model (QONNX ``Quant``
nodes) or a standard ONNX QDQ model (``QuantizeLinear``/``DequantizeLinear``, with a
``Clip`` between them in a QCDQ export narrowing the codes) whose
scales are powers of two, and returns the integer network whose codes, times their
scales, equal the model's own fake-quantized float values (as long as the model's float
arithmetic is itself exact, which power-of-two scales make it for the widths here).

What is read, node by node in the graph's order (branches and joins included):
- the input quantizer (``Quant`` or a Q/DQ pair on the graph input): not narrow, round
  half to even, zero point 0, one power-of-two scale: the network's ``input_type``; an
  unsigned ``b``-bit one (a ``uint8`` QDQ image model) is ``fixed<b+1, f>`` followed by an
  identity layer whose requantization clamps at 0 (the IR's input quantizer is signed);
- ``Conv`` (1-D or 2-D, any ``group``, no dilation, explicit pads; a ``[N, C, L]`` input
  is reshaped to height 1 and 1-D windows run as 2-D ones), ``Gemm`` (``alpha = beta = 1``,
  no ``transA``) and ``MatMul`` with a quantized constant weight (per-tensor or
  per-output-channel power-of-two scales) on quantized codes, and their quantized bias
  (the ``Conv``/``Gemm`` bias input, or an ``Add`` of a quantized constant after a
  ``MatMul``): a ``ComputeLayer(kind="mul")``. The accumulator is ``Σ x·w`` in codes;
- ``Relu``, ``MaxPool`` (pads below the kernel, ``ceil_mode=0``) and ``Flatten``/``Reshape`` to
  ``[N, -1]`` between a layer and the quantizer after it: ReLU becomes requantization's
  lower clamp, the others follow the requantizer (max and flatten commute with a
  monotone rounding), so ``round(max(relu(v)))`` is computed as ``max(relu(round(v)))``;
- ``AveragePool`` (kernel = stride, no padding) / ``GlobalAveragePool`` of codes over a
  power-of-two square area, then a quantizer: on the codes' own grid the IR's average
  pool (``round_half_even(sum / area)`` is what that quantizer makes of the float mean),
  on another the window sum requantized like a layer's accumulator;
- the quantizer after a layer: one requantization node reproducing ``sat(round_half_even((acc
  + bias) · s_x·s_w / s_out))`` exactly: ``M`` per channel is ``2**(F - f_x - f_w)``,
  ``B`` is the bias code ``· 2**(F - f_b)``, the shift ``F - f_out`` (``F`` the finest of
  the accumulator's and bias's fractions). A signed quantizer gives ``fixed<b, f>``
  (narrow range only under a ReLU, where it is the same clamp); an unsigned one
  ``fixed<b+1, f>`` with the ReLU clamp (its ``[0, 2**b - 1]`` exactly);
- ``Add`` of two quantized tensors (a residual add, DESIGN.md rule 10): both shifted to
  the finer scale and added exactly, then requantized by the quantizer after it like a
  layer's accumulator; ``Concat`` on the channel axis of tensors of one type;
- a layer whose result reaches the graph output unquantized keeps its whole
  accumulator: ``fixed<w, F>`` with ``w`` the bits of ``|acc·M + B|``.

Everything else is refused by name (``ModelFormatError`` for an op or a structure,
``QuantizationError`` for a scale, width, rounding mode or range): a scale that is not a
power of two, a per-channel activation scale, a zero point other than 0, a narrow input,
a float batch norm (merge it into the conv and quantize the bias before
export), a float bias or weight, an unquantized layer output added or concatenated, an
average over an area that is not a power of two.
Adder-eligible layers stay multiplications: swapping one for an adder layer changes what
it computes, which needs training (``adderflow.nn.swap`` and a distillation run).

Torch-free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto
from qonnx.core.modelwrapper import ModelWrapper

from adderflow.errors import ModelFormatError, QuantizationError
from adderflow.fixed import (
    MAX_BITS,
    MAX_PRODUCT_BITS,
    MAX_SHIFT,
    MIN_BITS,
    FixedType,
    RequantParams,
    acc_bits_needed,
    check_requant_limits,
    code_bits,
    signed_bits,
)
from adderflow.quant.spec import (
    INPUT,
    AddLayer,
    ComputeLayer,
    ConcatLayer,
    FlattenLayer,
    PoolLayer,
    QuantizedNetwork,
    ReshapeLayer,
    SumPoolLayer,
)
from adderflow.sim.executor import power_of_two
from adderflow.sim.onnx_io import node_attr

SWAP_NEEDS_TRAINING = (
    "an imported model's layers stay multiplication layers: swapping one for an adder "
    "layer changes what it computes, so the swapped network must be trained (fine-tuned "
    "or distilled) again: build it in PyTorch, swap with adderflow.nn.swap.to_adder, and "
    "train it with `adderflow run` (docs/your-model.md)"
)
SUPPORTED = (
    "Quant, QuantizeLinear/DequantizeLinear (and a QCDQ Clip between them), Conv, Gemm, "
    "MatMul, Add (a bias, or a residual add of quantized tensors), Concat, Relu, MaxPool, "
    "AveragePool/GlobalAveragePool (then a quantizer), Flatten, Reshape, Identity, Dropout"
)
_QDQ_TYPES = {
    TensorProto.INT4: (4, True),
    TensorProto.UINT4: (4, False),
    TensorProto.INT8: (8, True),
    TensorProto.UINT8: (8, False),
    TensorProto.INT16: (16, True),
    TensorProto.UINT16: (16, False),
    TensorProto.INT32: (32, True),
}


# --------------------------------------------------------------------------- tensor states


@dataclass(frozen=True)
class _Grid:
    """A quantizer: integer codes ``q`` in ``[lo, hi]`` with value ``q · 2**-frac``."""

    frac: np.ndarray  # int64, broadcastable against the tensor (per-tensor: shape ())
    lo: int
    hi: int
    bits: int
    signed: bool
    narrow: bool
    rounding: str
    node: str

    @property
    def per_tensor(self) -> bool:
        return self.frac.size == 1


@dataclass(frozen=True)
class _Const:
    """A constant: float values, and integer codes once a quantizer has gone over it."""

    value: np.ndarray
    codes: np.ndarray | None = None
    grid: _Grid | None = None


@dataclass(frozen=True)
class _Codes:
    """Integer codes of the network input or of a layer's result (``source``)."""

    source: str
    type: FixedType
    lo: int
    hi: int
    shape: tuple[int, ...]
    single: bool  # every tensor from the producing requantizer here has one consumer


@dataclass
class _Pending:
    """A layer's accumulator, waiting for the quantizer that requantizes it."""

    node: str
    layer: ComputeLayer | AddLayer  # requant, out_type, relu: placeholders until requantized
    acc_frac: np.ndarray  # int64 [C]: the accumulator's fraction bits per output channel
    bias: np.ndarray | None = None  # int64 codes [O]
    bias_frac: np.ndarray | None = None  # int64 [O]
    relu: bool = False
    after: list[tuple] = field(default_factory=list)  # ("pool", kernel, strides) / ("flatten",)
    shape: tuple[int, ...] = ()


@dataclass(frozen=True)
class _Average:
    """An average pool of codes (float: ``sum / area``), waiting for the quantizer that
    rounds it."""

    codes: _Codes
    kernel: tuple[int, int]
    node: str


@dataclass(frozen=True)
class _QLinear:
    """A ``QuantizeLinear``'s integer output, waiting for its ``DequantizeLinear``."""

    source: object
    scale: np.ndarray
    grid: _Grid


class _Reader:
    """Walks the graph once, turning each tensor into a state and emitting layers."""

    def __init__(self, wrapper: ModelWrapper, where: str) -> None:
        self.wrapper = wrapper
        self.where = where
        self.states: dict[str, object] = {}
        self.layers: list = []
        self.names: set[str] = set()
        self.input_type: FixedType | None = None
        self.consumers: dict[str, int] = {}
        for node in wrapper.graph.node:
            for name in node.input:
                self.consumers[name] = self.consumers.get(name, 0) + 1
        for out in wrapper.graph.output:
            self.consumers[out.name] = self.consumers.get(out.name, 0) + 1

    # ---------------------------------------------------------------- helpers

    def fail(self, node: onnx.NodeProto, message: str, error=ModelFormatError):
        return error(f"{self.where}: node '{node.name}' ({node.op_type}): {message}")

    def state(self, node: onnx.NodeProto, name: str) -> object:
        if name in self.states:
            state = self.states[name]
            if isinstance(state, _Pending) and self.consumers.get(name, 0) > 1:
                raise self.fail(
                    node,
                    f"a layer's accumulator '{name}' is read twice (a branch before its quantizer)",
                )
            return state
        value = self.wrapper.get_initializer(name)
        if value is not None:
            return _Const(np.asarray(value))
        raise self.fail(node, f"input '{name}' is neither the graph input nor computed")

    def const(self, node: onnx.NodeProto, index: int, what: str) -> np.ndarray:
        name = node.input[index] if len(node.input) > index else ""
        state = self.states.get(name) if name else None
        if isinstance(state, _Const):
            return state.value
        value = self.wrapper.get_initializer(name) if name else None
        if value is None:
            raise self.fail(node, f"{what} '{name}' is not a constant")
        return np.asarray(value)

    def layer_name(self, node: onnx.NodeProto) -> str:
        base = re.sub(r"[^0-9A-Za-z]+", "_", node.name).strip("_") or node.op_type.lower()
        name, i = f"l{len(self.layers)}_{base}", 1
        while name in self.names:
            name, i = f"l{len(self.layers)}_{base}_{i}", i + 1
        self.names.add(name)
        return name

    def emit(self, layer) -> str:
        """Append ``layer``; a single operand that is the layer before it is implied."""
        previous = self.layers[-1].name if self.layers else INPUT
        if len(layer.inputs) == 1 and layer.inputs[0] == previous:
            layer = replace(layer, inputs=())
        self.layers.append(layer)
        return layer.name

    # ---------------------------------------------------------------- quantizers

    def grid_of_quant(self, node: onnx.NodeProto) -> _Grid:
        scale = self.const(node, 1, "scale")
        zeropt = self.const(node, 2, "zero point")
        bits = self.const(node, 3, "bit width").astype(np.float64).ravel()
        if bits.size != 1 or bits[0] != round(bits[0]) or bits[0] < 1:
            raise self.fail(
                node, f"bit width {bits.tolist()} is not one positive integer", QuantizationError
            )
        if np.any(zeropt != 0):
            raise self.fail(
                node, "zero point is not 0 (the contract is symmetric)", QuantizationError
            )
        signed = bool(node_attr(node, "signed", 1))
        narrow = bool(node_attr(node, "narrow", 0))
        rounding = node_attr(node, "rounding_mode", "ROUND")
        rounding = rounding.decode() if isinstance(rounding, bytes) else rounding
        return self.grid(node, scale, int(bits[0]), signed, narrow, str(rounding).upper())

    def grid(self, node, scale, bits: int, signed: bool, narrow: bool, rounding: str) -> _Grid:
        if not power_of_two(scale):
            flat = np.asarray(scale, dtype=np.float64).ravel()
            raise self.fail(
                node,
                f"scale {flat[0]:g}{' ...' if flat.size > 1 else ''} is not a power of two; "
                "the hardware path needs fixed<b, f> scales 2**-f",
                QuantizationError,
            )
        _, exponent = np.frexp(np.asarray(scale, dtype=np.float64))
        frac = (1 - exponent).astype(np.int64)  # scale = 0.5 · 2**e = 2**-(1-e)
        if signed:
            lo, hi = -(1 << (bits - 1)) + int(narrow), (1 << (bits - 1)) - 1
        else:
            lo, hi = 0, (1 << bits) - 1 - int(narrow)
        return _Grid(frac, lo, hi, bits, signed, narrow, rounding, node.name)

    def quantize(self, node: onnx.NodeProto, out: str, x: object, grid: _Grid) -> None:
        """``x`` through the quantizer ``grid``: the state of ``out``."""
        if isinstance(x, _Const):
            self.states[out] = self.quantize_const(node, x, grid)
        elif isinstance(x, str):  # the graph input
            self.states[out] = self.input_quant(node, grid)
        elif isinstance(x, _Pending):
            self.states[out] = self.requantize(node, x, grid)
        elif isinstance(x, _Codes):
            self.states[out] = self.requantize_codes(node, x, grid)
        elif isinstance(x, _Average):
            self.states[out] = self.average(node, x, grid)
        else:
            raise self.fail(node, "quantizes something that is not a tensor of the network")

    def quantize_const(self, node, x: _Const, grid: _Grid) -> _Const:
        if grid.rounding != "ROUND" and node.op_type != "Quant":
            raise self.fail(node, f"rounding mode {grid.rounding}", QuantizationError)
        if node.op_type == "Quant":  # the file's own rounding mode, as qonnx computes it
            from qonnx.custom_op.general.quant import quant

            scale = self.const(node, 1, "scale")
            zeropt, bits = self.const(node, 2, "zero point"), self.const(node, 3, "bit width")
            signed, narrow = int(grid.signed), int(grid.narrow)
            values = quant(x.value, scale, zeropt, bits, signed, narrow, grid.rounding)
            codes = np.asarray(values, dtype=np.float64) * 2.0 ** grid.frac.astype(np.float64)
        else:
            scaled = np.asarray(x.value, dtype=np.float64) * 2.0 ** grid.frac.astype(np.float64)
            codes = np.clip(np.round(scaled), grid.lo, grid.hi)
        if not np.all(codes == np.round(codes)):
            raise self.fail(node, "quantized constant is not on its grid", QuantizationError)
        codes = codes.astype(np.int64)
        return _Const(codes * 2.0 ** -grid.frac.astype(np.float64), codes, grid)

    def input_quant(self, node, grid: _Grid) -> _Codes:
        if self.input_type is not None:
            raise self.fail(node, "the graph input is quantized twice")
        why = []
        if grid.narrow:
            why.append("narrow range")
        if grid.rounding != "ROUND":
            why.append(f"rounding mode {grid.rounding} (the contract rounds half to even)")
        if not grid.per_tensor:
            why.append("per-channel scale")
        width = grid.bits + (0 if grid.signed else 1)
        if not MIN_BITS <= width <= MAX_BITS:
            why.append(f"codes need {width} signed bits, outside {MIN_BITS}..{MAX_BITS}")
        if why:
            raise self.fail(node, "input quantizer: " + "; ".join(why), QuantizationError)
        self.input_type = FixedType(width, int(grid.frac.ravel()[0]))
        t = self.input_type
        x = _Codes(INPUT, t, t.qmin, t.qmax, self.input_shape, False)
        if len(self.input_shape) == 2:  # (C, L): 1-D layers run as 2-D ones of height 1
            c, length = self.input_shape
            name = self.emit(ReshapeLayer(self.unique("input_reshape"), (c, 1, length), (INPUT,)))
            x = replace(x, source=name, shape=(c, 1, length))
        return x if grid.signed else self.input_clamp(x)

    def input_clamp(self, x: _Codes) -> _Codes:
        """An unsigned input quantizer clamps at 0, the IR's signed one (a bit wider) does
        not: an identity layer (1×1 conv, or dense) whose requantization clamps at 0 does,
        exactly. It is a multiplication layer and is counted as one."""
        channels = x.shape[0]
        eye = np.eye(channels, dtype=np.int64)
        weight = eye[:, :, None, None] if len(x.shape) == 3 else eye
        ones, zeros = np.ones(channels, np.int64), np.zeros(channels, np.int64)
        stem = ComputeLayer(
            name=self.unique("input_clamp"),
            kind="mul",
            weight=weight,
            in_type=x.type,
            w_type=FixedType(MIN_BITS, 0),
            acc_bits=max(MIN_BITS, acc_bits_needed("mul", x.type.bits, weight)),
            requant=RequantParams(ones, zeros, 0),
            out_type=x.type,
            relu=True,
            inputs=(x.source,),
        )
        return replace(x, source=self.emit(stem), lo=0)

    def out_type(self, node, p: _Pending, grid: _Grid) -> tuple[FixedType, bool]:
        """The requantizer's output type and ReLU flag for quantizer ``grid``."""
        why = []
        if grid.rounding != "ROUND":
            why.append(f"rounding mode {grid.rounding} (the contract rounds half to even)")
        if not grid.per_tensor:
            why.append("per-channel activation scale (one scale per tensor on this path)")
        width = grid.bits + (0 if grid.signed else 1)
        if not MIN_BITS <= width <= MAX_BITS:
            why.append(f"codes need {width} signed bits, outside {MIN_BITS}..{MAX_BITS}")
        relu = p.relu or not grid.signed
        if grid.narrow and not (relu and grid.signed):
            why.append("narrow range (only under a ReLU, where it clamps alike, is it exact)")
        if why:
            raise self.fail(node, "; ".join(why), QuantizationError)
        return FixedType(width, int(grid.frac.ravel()[0])), relu

    def requant_params(self, node, p: _Pending, out_frac: int | None) -> RequantParams:
        """``M``, ``B``, shift: ``(acc·M + B)·2**-shift`` is ``(acc + bias)`` on
        ``2**-out_frac`` (``None``: on the finest grid, shift 0)."""
        acc_frac = p.acc_frac
        fine = int(acc_frac.max())
        if p.bias is not None:
            fine = max(fine, int(p.bias_frac.max()))
        shift = fine - (fine if out_frac is None else out_frac)
        multiplier = np.left_shift(np.int64(1), (fine - acc_frac).astype(np.int64))
        bias = np.zeros_like(multiplier)
        if p.bias is not None:
            bias = p.bias * np.left_shift(np.int64(1), (fine - p.bias_frac).astype(np.int64))
        if shift < 0:  # the output grid is finer than the accumulator's: a left shift
            multiplier, bias, shift = multiplier << -shift, bias << -shift, 0
        if shift > MAX_SHIFT:
            raise self.fail(
                node, f"requantization shift {shift} exceeds {MAX_SHIFT}", QuantizationError
            )
        what = f"{self.where}: node '{node.name}' ({node.op_type})"
        check_requant_limits(p.layer.acc_bits, multiplier, bias, shift, what)
        return RequantParams(multiplier.astype(np.int64), bias.astype(np.int64), int(shift))

    def requantize(self, node, p: _Pending, grid: _Grid | None) -> _Codes:
        """Emit ``p``'s layer with the requantizer of ``grid`` (``None``: the whole
        accumulator, for a result that reaches the graph output unquantized)."""
        if grid is None:
            requant = self.requant_params(node, p, None)
            peak = (1 << (p.layer.acc_bits - 1)) * np.abs(requant.multiplier) + np.abs(requant.bias)
            width = max(MIN_BITS, signed_bits(int(peak.max())))
            if width > MAX_PRODUCT_BITS:
                raise self.fail(node, f"the output needs {width} bits", QuantizationError)
            frac = int(p.acc_frac.max())
            if p.bias is not None:
                frac = max(frac, int(p.bias_frac.max()))
            out_type, relu = FixedType(width, frac), p.relu
        else:
            out_type, relu = self.out_type(node, p, grid)
            requant = self.requant_params(node, p, out_type.frac)
        layer = replace(p.layer, requant=requant, out_type=out_type, relu=relu)
        name = self.emit(layer)
        lo = 0 if relu else out_type.qmin
        for step in p.after:
            name = self.emit_after(step, name)
        return _Codes(name, out_type, lo, out_type.qmax, p.shape, True)

    def emit_after(self, step: tuple, source: str) -> str:
        base = f"{source}_{step[0]}"
        if step[0] == "pool":
            _, kernel, strides, pads = step
            return self.emit(
                PoolLayer(self.unique(base), kernel, strides, pads=pads, inputs=(source,))
            )
        return self.emit(FlattenLayer(self.unique(base), inputs=(source,)))

    def unique(self, base: str) -> str:
        name, i = base, 1
        while name in self.names:
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        return name

    def requantize_codes(self, node, x: _Codes, grid: _Grid) -> _Codes:
        """A quantizer on codes with no layer between: exact only as the identity."""
        same = (
            grid.per_tensor
            and int(grid.frac.ravel()[0]) == x.type.frac
            and grid.lo <= x.lo
            and grid.hi >= x.hi
        )
        if not same:
            raise self.fail(
                node,
                f"re-quantizes codes of '{x.source}' ({x.type}, [{x.lo}, {x.hi}]) to another "
                "scale or a narrower range with no layer between; adderflow has no standalone "
                "requantizer (quantize once after each layer)",
                QuantizationError,
            )
        return x

    # ---------------------------------------------------------------- layers

    def weight_codes(self, node, state: object, what: str) -> tuple[np.ndarray, _Grid]:
        if not isinstance(state, _Const):
            raise self.fail(node, f"{what} is not a constant (a product of two activations)")
        if state.codes is None:
            raise self.fail(
                node,
                f"{what} is not quantized (a float {what}: give it a power-of-two quantizer, "
                "e.g. brevitas Int8WeightPerTensorFixedPoint / Int32Bias)",
                QuantizationError,
            )
        return state.codes, state.grid

    def layer_input(self, node) -> _Codes:
        x = self.state(node, node.input[0])
        if not isinstance(x, _Codes):
            raise self.fail(
                node,
                "its input is not quantized (a layer reads the codes of a quantizer: add one "
                "before it, e.g. brevitas QuantIdentity or a QuantizeLinear/DequantizeLinear)",
                QuantizationError,
            )
        return x

    def compute(self, node: onnx.NodeProto) -> None:
        x = self.layer_input(node)
        weight, w_grid = self.weight_codes(node, self.state(node, node.input[1]), "weight")
        conv = node.op_type == "Conv"
        if conv and weight.ndim == 3:  # a 1-D conv: height 1
            frac = np.asarray(w_grid.frac)
            weight = weight[:, :, None, :]
            w_grid = replace(w_grid, frac=frac[:, :, None, :] if frac.ndim == 3 else frac)
        if conv:
            kwargs, shape = self.conv_geometry(node, x, weight)
            w_frac = np.broadcast_to(w_grid.frac, weight.shape)
            per_out = w_frac.reshape(len(weight), -1)
        else:
            if len(x.shape) != 1:
                raise self.fail(node, f"input of shape {list(x.shape)} is not flat (flatten first)")
            w_frac = np.broadcast_to(w_grid.frac, weight.shape)
            transposed = node.op_type == "MatMul" or not node_attr(node, "transB", 0)
            if node.op_type == "Gemm":
                self.check_gemm(node)
            if weight.ndim != 2:
                raise self.fail(node, f"weight of rank {weight.ndim} (a dense layer's is 2)")
            if transposed:
                weight, w_frac = weight.T, w_frac.T
            per_out = w_frac
            kwargs, shape = {}, (int(weight.shape[0]),)
        if not conv and weight.shape[1] != x.shape[0]:
            raise self.fail(node, f"weight {list(weight.shape)} does not fit input {list(x.shape)}")
        if not np.all(per_out == per_out[:, :1]):
            raise self.fail(node, "weight scales vary within an output channel", QuantizationError)
        w_bits = max(MIN_BITS, code_bits(weight), w_grid.bits + (0 if w_grid.signed else 1))
        if w_bits > MAX_BITS:
            raise self.fail(
                node,
                f"weight codes need {w_bits} bits, outside {MIN_BITS}..{MAX_BITS}",
                QuantizationError,
            )
        w_frac = per_out[:, 0].astype(np.int64)
        acc_bits = max(MIN_BITS, acc_bits_needed("mul", x.type.bits, weight))
        placeholder = RequantParams(
            np.ones(len(weight), np.int64), np.zeros(len(weight), np.int64), 0
        )
        layer = ComputeLayer(
            name=self.layer_name(node),
            kind="mul",
            weight=np.ascontiguousarray(weight, dtype=np.int64),
            in_type=x.type,
            w_type=FixedType(w_bits, int(w_frac.max())),
            acc_bits=acc_bits,
            requant=placeholder,
            out_type=x.type,
            relu=False,
            inputs=(x.source,),
            **kwargs,
        )
        pending = _Pending(node.output[0], layer, x.type.frac + w_frac, shape=shape)
        bias_index = 2
        if len(node.input) > bias_index and node.input[bias_index]:
            self.add_bias(node, pending, self.state(node, node.input[bias_index]))
        self.states[node.output[0]] = pending

    def check_gemm(self, node) -> None:
        for attr, want in (("alpha", 1.0), ("beta", 1.0), ("transA", 0)):
            if node_attr(node, attr, want) != want:
                raise self.fail(node, f"{attr}={node_attr(node, attr)} (only {attr}={want})")

    def conv_geometry(self, node, x: _Codes, weight: np.ndarray) -> tuple[dict, tuple]:
        if weight.ndim != 4 or len(x.shape) != 3:
            raise self.fail(
                node, f"{weight.ndim - 2}-D convolution (1-D and 2-D ones are imported)"
            )
        groups = int(node_attr(node, "group", 1))
        if weight.shape[1] * groups != x.shape[0] or len(weight) % groups:
            raise self.fail(
                node,
                f"weight {list(weight.shape)} in {groups} groups does not fit input "
                f"{list(x.shape)}",
            )
        if any(d != 1 for d in node_attr(node, "dilations", None) or []):
            raise self.fail(node, "dilated convolution")
        if node_attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            raise self.fail(node, f"auto_pad={node_attr(node, 'auto_pad')} (explicit pads only)")
        strides = _lift(node_attr(node, "strides", None) or (1, 1))
        pads = _lift_pads(node_attr(node, "pads", None) or (0, 0, 0, 0))
        kh, kw = weight.shape[2:]
        h = (x.shape[1] + pads[0] + pads[2] - kh) // strides[0] + 1
        w = (x.shape[2] + pads[1] + pads[3] - kw) // strides[1] + 1
        kwargs = {"strides": strides, "pads": pads, "groups": groups}
        return kwargs, (int(weight.shape[0]), h, w)

    def add_bias(self, node, p: _Pending, state: object) -> None:
        if p.bias is not None or p.relu or p.after:
            raise self.fail(node, "a second bias, or a bias after ReLU or pooling")
        codes, grid = self.weight_codes(node, state, "bias")
        outputs = len(p.acc_frac)
        if codes.size != outputs:
            raise self.fail(node, f"bias of {codes.size} values for {outputs} outputs")
        frac = np.broadcast_to(grid.frac, codes.shape).ravel()
        p.bias, p.bias_frac = codes.ravel().astype(np.int64), frac.astype(np.int64)

    # ---------------------------------------------------------------- the walk

    def read(self) -> QuantizedNetwork:
        graph = self.wrapper.graph
        if len(graph.input) != 1 or len(graph.output) != 1:
            raise ModelFormatError(
                f"{self.where}: {len(graph.input)} inputs and {len(graph.output)} outputs "
                "(one of each is imported)"
            )
        self.input_shape = self.shape_of(graph.input[0].name, "graph input")
        self.export_batch = export_batch(self.wrapper.model)
        self.states[graph.input[0].name] = "graph-input"
        for node in graph.node:
            self.step(node)
        result = self.states.get(graph.output[0].name)
        if isinstance(result, _Pending):
            last = self.wrapper.find_producer(graph.output[0].name)
            result = self.requantize(last, result, None)
        if not isinstance(result, _Codes) or not self.layers or self.input_type is None:
            raise ModelFormatError(
                f"{self.where}: the graph output '{graph.output[0].name}' is not the result "
                "of a quantized layer"
            )
        if result.source != self.layers[-1].name:
            raise ModelFormatError(f"{self.where}: the output is not the last layer's result")
        return QuantizedNetwork(self.input_type, self.input_shape, tuple(self.layers))

    def shape_of(self, name: str, what: str) -> tuple[int, ...]:
        try:
            shape = self.wrapper.get_tensor_shape(name)
        except Exception:  # no value info
            shape = None
        if not shape or any(not isinstance(d, int) or d <= 0 for d in shape[1:]):
            raise ModelFormatError(f"{self.where}: {what} '{name}' has no static shape")
        return tuple(int(d) for d in shape[1:])

    def step(self, node: onnx.NodeProto) -> None:
        op = node.op_type
        handler = _HANDLERS.get(op)
        if handler is None:
            raise self.fail(
                node,
                f"op '{node.domain or 'ai.onnx'}.{op}' is not supported by `adderflow import "
                f"--to-run` (supported: {SUPPORTED})"
                + (
                    "; a float batch norm is not exact in integers: merge it into the "
                    "convolution before export and quantize the bias"
                    if op == "BatchNormalization"
                    else ""
                ),
            )
        handler(self, node)

    def passthrough(self, node) -> None:
        self.states[node.output[0]] = self.state(node, node.input[0])

    def quant(self, node) -> None:
        self.quantize(
            node, node.output[0], self.state(node, node.input[0]), self.grid_of_quant(node)
        )

    def quantize_linear(self, node) -> None:
        scale = self.const(node, 1, "scale")
        zp_name = node.input[2] if len(node.input) > 2 else ""
        if zp_name:
            zp_proto = self.wrapper.get_initializer(zp_name)
            elem = next(t.data_type for t in self.wrapper.graph.initializer if t.name == zp_name)
            if zp_proto is None or np.any(np.asarray(zp_proto) != 0):
                raise self.fail(node, "zero point is not 0", QuantizationError)
        else:
            elem = node_attr(node, "output_dtype", 0) or TensorProto.UINT8
        if elem not in _QDQ_TYPES:
            raise self.fail(
                node, f"output type {TensorProto.DataType.Name(elem)}", QuantizationError
            )
        bits, signed = _QDQ_TYPES[elem]
        grid = self.grid(node, scale, bits, signed, False, "ROUND")
        self.check_axis(node, scale)
        self.states[node.output[0]] = _QLinear(self.state(node, node.input[0]), scale, grid)

    def clip(self, node) -> None:
        """A QCDQ export's ``Clip`` between ``QuantizeLinear`` and ``DequantizeLinear``
        (brevitas ``export_onnx_qcdq``): codes narrower than their int8/uint8 storage."""
        q = self.state(node, node.input[0])
        if not isinstance(q, _QLinear):
            raise self.fail(
                node, "a Clip other than a QCDQ one (between QuantizeLinear and DequantizeLinear)"
            )
        if len(node.input) > 2 and node.input[1] and node.input[2]:
            bounds = [self.const(node, i, "bound").ravel() for i in (1, 2)]
        else:
            bounds = [np.array([node_attr(node, k, None)]) for k in ("min", "max")]
        if any(b.size != 1 or b[0] is None for b in bounds):
            raise self.fail(node, "bounds are not two constants", QuantizationError)
        lo, hi = (int(b[0]) for b in bounds)
        if lo < 0:
            bits = code_bits(np.array([lo, hi]))
            narrow = lo == -(1 << (bits - 1)) + 1
            exact = hi == (1 << (bits - 1)) - 1 and (narrow or lo == -(1 << (bits - 1)))
        else:
            bits = max(1, hi.bit_length())
            narrow = hi == (1 << bits) - 2 and bits > 1
            exact = lo == 0 and (narrow or hi == (1 << bits) - 1)
        if not exact:
            raise self.fail(node, f"range [{lo}, {hi}] is no {bits}-bit range", QuantizationError)
        grid = replace(q.grid, lo=lo, hi=hi, bits=bits, signed=lo < 0, narrow=narrow)
        self.states[node.output[0]] = replace(q, grid=grid)

    def check_axis(self, node, scale: np.ndarray) -> None:
        if np.asarray(scale).size > 1 and node_attr(node, "block_size", 0):
            raise self.fail(node, "blocked quantization", QuantizationError)

    def dequantize_linear(self, node) -> None:
        scale = self.const(node, 1, "scale")
        if len(node.input) > 2 and node.input[2] and np.any(self.const(node, 2, "zero point")):
            raise self.fail(node, "zero point is not 0", QuantizationError)
        self.check_axis(node, scale)
        source = self.state(node, node.input[0])
        frac_shape = self.axis_shape(node, scale, source)
        if isinstance(source, _QLinear):
            if not np.array_equal(np.asarray(source.scale), np.asarray(scale)):
                raise self.fail(node, "scale differs from its QuantizeLinear's", QuantizationError)
            grid = replace(source.grid, frac=source.grid.frac.reshape(frac_shape))
            self.quantize(node, node.output[0], source.source, grid)
            return
        if not isinstance(source, _Const):
            raise self.fail(
                node,
                "dequantizes something that is neither a QuantizeLinear's "
                "output nor an integer constant",
            )
        elem = next(
            (t.data_type for t in self.wrapper.graph.initializer if t.name == node.input[0]), None
        )
        if elem not in _QDQ_TYPES:
            raise self.fail(node, "its constant is not an integer tensor", QuantizationError)
        bits, signed = _QDQ_TYPES[elem]
        grid = self.grid(node, scale, bits, signed, False, "ROUND")
        grid = replace(grid, frac=grid.frac.reshape(frac_shape))
        codes = source.value.astype(np.int64)
        self.states[node.output[0]] = _Const(
            codes * 2.0 ** -grid.frac.astype(np.float64), codes, grid
        )

    def axis_shape(self, node, scale: np.ndarray, source: object) -> tuple[int, ...]:
        """The shape a per-axis scale broadcasts with against the tensor it scales."""
        scale = np.asarray(scale)
        if scale.size <= 1:
            return ()
        inner = source.source if isinstance(source, _QLinear) else source
        value = getattr(inner, "value", None)
        if value is None:
            raise self.fail(node, "per-channel scale on an activation", QuantizationError)
        axis = node_attr(node, "axis", 1)
        axis = axis + value.ndim if axis < 0 else axis
        shape = [1] * value.ndim
        shape[axis] = scale.size
        return tuple(shape)

    def relu(self, node) -> None:
        x = self.state(node, node.input[0])
        if isinstance(x, _Pending):
            x.relu = True
            x.node = node.output[0]
            self.states[node.output[0]] = x
        elif isinstance(x, _Codes):
            self.states[node.output[0]] = self.relu_codes(node, x)
        else:
            raise self.fail(node, "ReLU of something that is not a layer's result")

    def index_of(self, name: str) -> int | None:
        return next((i for i, layer in enumerate(self.layers) if layer.name == name), None)

    def source_of(self, index: int) -> str:
        layer = self.layers[index]
        if layer.inputs:
            return layer.inputs[0]
        return self.layers[index - 1].name if index else INPUT

    def relu_codes(self, node, x: _Codes) -> _Codes:
        """ReLU of codes: nothing when they are non-negative, else the producing layer's
        lower clamp (when nothing else reads its codes before the ReLU)."""
        if x.lo >= 0:
            return x
        index = self.index_of(x.source)
        while index is not None and (
            isinstance(self.layers[index], FlattenLayer)
            or (isinstance(self.layers[index], PoolLayer) and self.layers[index].mode == "max")
        ):  # ReLU commutes with these: clamp the layer that requantized
            index = self.index_of(self.source_of(index))
        clamps = index is not None and isinstance(self.layers[index], (ComputeLayer, AddLayer))
        if not clamps or not x.single or self.consumers.get(node.input[0]) != 1:
            raise self.fail(
                node,
                "ReLU of codes another node also reads, or of the network "
                "input: put it before the quantizer",
            )
        self.layers[index] = replace(self.layers[index], relu=True)
        return replace(x, lo=0)

    def average_pool(self, node) -> None:
        """``AveragePool``/``GlobalAveragePool`` of codes: the quantizer after it rounds
        ``sum / area``, which is the IR's average pool when the area is a power of two
        and the quantizer's grid is the codes' own."""
        x = self.state(node, node.input[0])
        if not isinstance(x, _Codes) or len(x.shape) != 3:
            raise self.fail(
                node,
                "average pooling of something that is not a layer's 2-D "
                "codes (quantize before pooling)",
            )
        if node.op_type == "GlobalAveragePool":
            kernel = (x.shape[1], x.shape[2])
        else:
            kernel = tuple(int(k) for k in node_attr(node, "kernel_shape"))
            strides = tuple(int(s) for s in node_attr(node, "strides", None) or (1, 1))
            why = [
                what
                for what, bad in (
                    ("strides other than the kernel", strides != kernel),
                    ("padding", any(node_attr(node, "pads", None) or [])),
                    ("ceil_mode=1", node_attr(node, "ceil_mode", 0)),
                    ("auto_pad", node_attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID")),
                )
                if bad
            ]
            if why:
                raise self.fail(node, "average pooling with " + ", ".join(why) + " is not imported")
        from adderflow.fixed import avg_pool_shift

        avg_pool_shift(kernel, kernel, f"{self.where}: node '{node.name}' ({node.op_type})")
        self.states[node.output[0]] = _Average(x, kernel, node.output[0])

    def average(self, node, a: _Average, grid: _Grid) -> _Codes:
        """The quantizer after an average pool: on the codes' own grid and range, the IR's
        average pool; on another, the window sum requantized (the mean of a power-of-two
        area is the sum on a grid ``log2(area)`` bits finer, so this is exact too)."""
        x = a.codes
        same = (
            grid.rounding == "ROUND"
            and grid.per_tensor
            and int(grid.frac.ravel()[0]) == x.type.frac
            and grid.lo <= x.lo
            and grid.hi >= x.hi
        )
        if not same:
            from adderflow.fixed import window_sum_bits

            area = a.kernel[0] * a.kernel[1]
            channels = x.shape[0]
            placeholder = RequantParams(
                np.ones(channels, np.int64), np.zeros(channels, np.int64), 0
            )
            layer = SumPoolLayer(
                self.unique(f"{x.source}_sumpool"),
                a.kernel,
                a.kernel,
                window_sum_bits(x.type.bits, area),
                placeholder,
                x.type,
                inputs=(x.source,),
            )
            frac = np.full(channels, x.type.frac + area.bit_length() - 1, np.int64)
            pending = _Pending(a.node, layer, frac, shape=_pooled(x.shape, a.kernel, a.kernel))
            return self.requantize(node, pending, grid)
        name = self.emit(
            PoolLayer(
                self.unique(f"{x.source}_avgpool"),
                a.kernel,
                a.kernel,
                mode="avg",
                inputs=(x.source,),
            )
        )
        shape = _pooled(x.shape, a.kernel, a.kernel)
        return replace(x, source=name, shape=shape, single=False)

    def max_pool(self, node) -> None:
        x = self.state(node, node.input[0])
        kernel = _lift(node_attr(node, "kernel_shape"))
        strides = _lift(node_attr(node, "strides", None) or kernel)
        why = []
        if len(kernel) != 2:
            why.append(f"{len(kernel)}-D pooling")
        pads = _lift_pads(node_attr(node, "pads", None) or (0, 0, 0, 0))
        if len(pads) != 4 or any(p >= k for p, k in zip(pads, kernel * 2, strict=False)):
            why.append(f"pads {list(pads)} (each below the kernel's side)")
        if node_attr(node, "ceil_mode", 0):
            why.append("ceil_mode=1")
        if any(d != 1 for d in node_attr(node, "dilations", None) or []):
            why.append("dilation")
        if node_attr(node, "auto_pad", "NOTSET") not in ("NOTSET", "VALID"):
            why.append("auto_pad")
        if len(node.output) > 1 and node.output[1]:
            why.append("an indices output")
        if why:
            raise self.fail(node, "max pooling with " + ", ".join(why) + " is not imported")
        if isinstance(x, _Pending):
            x.after.append(("pool", kernel, strides, pads))
            x.shape = _pooled(x.shape, kernel, strides, pads)
            x.node = node.output[0]
            self.states[node.output[0]] = x
        elif isinstance(x, _Codes):
            pool = PoolLayer(
                self.unique(f"{x.source}_pool"), kernel, strides, pads=pads, inputs=(x.source,)
            )
            name = self.emit(pool)
            single = x.single and self.consumers.get(node.input[0]) == 1
            self.states[node.output[0]] = replace(
                x, source=name, shape=_pooled(x.shape, kernel, strides, pads), single=single
            )
        else:
            raise self.fail(node, "max pooling of something that is not a layer's result")

    def flatten(self, node) -> None:
        x = self.state(node, node.input[0])
        if node.op_type == "Flatten" and node_attr(node, "axis", 1) != 1:
            raise self.fail(node, f"axis={node_attr(node, 'axis')} (only axis=1)")
        if node.op_type == "Reshape":
            target = [int(d) for d in self.const(node, 1, "shape").ravel()]
            size = int(np.prod(getattr(x, "shape", ()) or (0,)))
            batches = (-1, 0, 1, self.export_batch)  # a traced x.size(0) is a constant
            if len(target) != 2 or target[1] not in (-1, size) or target[0] not in batches:
                raise self.fail(node, f"reshape to {target} (only a flatten to [N, -1])")
        if isinstance(x, _Pending):
            if len(x.shape) > 1:
                x.after.append(("flatten",))
                x.shape = (int(np.prod(x.shape)),)
            x.node = node.output[0]
            self.states[node.output[0]] = x
        elif isinstance(x, _Codes):
            if len(x.shape) == 1:
                self.states[node.output[0]] = x
                return
            name = self.emit(FlattenLayer(self.unique(f"{x.source}_flatten"), inputs=(x.source,)))
            single = x.single and self.consumers.get(node.input[0]) == 1
            self.states[node.output[0]] = replace(
                x, source=name, shape=(int(np.prod(x.shape)),), single=single
            )
        else:
            raise self.fail(node, "reshape of something that is not a layer's result")

    def add(self, node) -> None:
        a, b = (self.state(node, name) for name in node.input[:2])
        if isinstance(a, _Codes) and isinstance(b, _Codes):
            self.states[node.output[0]] = self.residual(node, a, b)
            return
        if isinstance(b, _Pending):
            a, b = b, a
        if not isinstance(a, _Pending) or not isinstance(b, _Const):
            raise self.fail(
                node,
                "adds neither a quantized bias to a layer nor two quantized tensors (quantize "
                "a layer's output before a residual add)",
            )
        self.add_bias(node, a, b)
        a.node = node.output[0]
        self.states[node.output[0]] = a

    def residual(self, node, a: _Codes, b: _Codes) -> _Pending:
        """Two codes tensors added (DESIGN.md rule 10): both shifted to the finer scale and
        added exactly; the quantizer after it requantizes the sum."""
        from adderflow.sim.ops.int_add import sum_bits

        if a.shape != b.shape:
            raise self.fail(
                node,
                f"adds shapes {list(a.shape)} and {list(b.shape)} (a "
                "residual add does not broadcast)",
            )
        frac = max(a.type.frac, b.type.frac)
        shifts = (frac - a.type.frac, frac - b.type.frac)
        if max(shifts) > MAX_SHIFT:
            raise self.fail(node, f"scales 2**{shifts} apart", QuantizationError)
        acc_bits = sum_bits([a.type.bits, b.type.bits], shifts)
        channels = a.shape[0]
        placeholder = RequantParams(np.ones(channels, np.int64), np.zeros(channels, np.int64), 0)
        layer = AddLayer(
            self.layer_name(node), (a.source, b.source), shifts, acc_bits, placeholder, a.type
        )
        return _Pending(node.output[0], layer, np.full(channels, frac, np.int64), shape=a.shape)

    def concat(self, node) -> None:
        xs = [self.state(node, name) for name in node.input]
        axis = node_attr(node, "axis", 1)
        if not all(isinstance(x, _Codes) for x in xs) or len({len(x.shape) for x in xs}) != 1:
            raise self.fail(node, "concatenates something that is not quantized codes")
        if axis not in (1, 1 - len(xs[0].shape) - 1):
            raise self.fail(node, f"axis={axis} (only the channel axis 1)")
        types = {str(x.type) for x in xs}
        if len(types) != 1 or any(x.shape[1:] != xs[0].shape[1:] for x in xs):
            raise self.fail(
                node,
                f"operands of types {sorted(types)} and shapes "
                f"{[list(x.shape) for x in xs]} (one type, one spatial shape)",
                QuantizationError,
            )
        layer = ConcatLayer(self.layer_name(node), tuple(x.source for x in xs))
        shape = (sum(x.shape[0] for x in xs), *xs[0].shape[1:])
        lo, hi = min(x.lo for x in xs), max(x.hi for x in xs)
        self.states[node.output[0]] = _Codes(self.emit(layer), xs[0].type, lo, hi, shape, False)


def export_batch(model: onnx.ModelProto) -> int:
    """The batch size the graph input was exported with (1 when it is not fixed)."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    return int(dims[0].dim_value) if dims and dims[0].dim_value > 0 else 1


def _lift(values) -> tuple[int, ...]:
    """A 1-D window's kernel or strides as 2-D ones of height 1."""
    values = tuple(int(v) for v in values)
    return (1, *values) if len(values) == 1 else values


def _lift_pads(pads) -> tuple[int, ...]:
    """1-D pads ``[begin, end]`` as 2-D ``(top, left, bottom, right)`` of height 1."""
    pads = tuple(int(p) for p in pads)
    return (0, pads[0], 0, pads[1]) if len(pads) == 2 else pads


def _pooled(
    shape: tuple[int, ...], kernel: tuple, strides: tuple, pads: tuple = (0, 0, 0, 0)
) -> tuple[int, ...]:
    c, h, w = shape
    h, w = h + pads[0] + pads[2], w + pads[1] + pads[3]
    return (c, (h - kernel[0]) // strides[0] + 1, (w - kernel[1]) // strides[1] + 1)


_HANDLERS = {
    "Quant": _Reader.quant,
    "QuantizeLinear": _Reader.quantize_linear,
    "DequantizeLinear": _Reader.dequantize_linear,
    "Conv": _Reader.compute,
    "Gemm": _Reader.compute,
    "MatMul": _Reader.compute,
    "Add": _Reader.add,
    "Concat": _Reader.concat,
    "Clip": _Reader.clip,
    "Relu": _Reader.relu,
    "MaxPool": _Reader.max_pool,
    "AveragePool": _Reader.average_pool,
    "GlobalAveragePool": _Reader.average_pool,
    "Flatten": _Reader.flatten,
    "Reshape": _Reader.flatten,
    "Identity": _Reader.passthrough,
    "Dropout": _Reader.passthrough,
}


def network_from_onnx(path: str | Path) -> QuantizedNetwork:
    """The integer network of the quantized ONNX model at ``path`` (see the module doc); a
    binary model (``import_binary.is_binary``) goes to ``import_binary.convert_binary``."""
    from adderflow.export.import_binary import convert_binary, is_binary
    from adderflow.export.importer import load_foreign

    wrapper = load_foreign(path)
    where = f"model file {path}"
    if is_binary(wrapper):  # binarized activations: export.import_binary converts them
        return convert_binary(wrapper, where)
    return _Reader(wrapper, where).read()
