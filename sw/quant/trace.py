"""Any torch.fx-traceable model as a small graph of quantizable operations.

Why torch.fx (docs/quantization.md): it records the model's real dataflow (residual adds,
concatenations, functional calls inside ``forward``) from the Python code itself, with no
export step, no extra dependency and the trained modules at hand (their weights, batch
norm statistics); brevitas' export graph would need brevitas layers in the model first.

``trace_graph`` traces a model, runs calibration data through it to record every node's
output shape and peak ``|value|``, and normalizes the fx graph into ``GraphOp``s: a conv or
dense layer with the batch norm and activation folded behind it, pools, global average
pools, flattens, residual adds, channel concatenations and squeeze-excite products.
No-ops (identity, dropout, a channel slice that keeps every channel) become aliases.
Anything else is refused with a ``QuantizationError`` naming the node and the reason.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import fx, nn
from torch.nn import functional as F

from adderflow.errors import QuantizationError
from adderflow.nn.binary import BinaryConv1d, BinaryConv2d, SqueezeInteraction
from adderflow.quant.spec import INPUT

CONVS = (nn.Conv1d, nn.Conv2d)
ACTIVATIONS = ("relu", "hardsigmoid")


def _is_adder(module: nn.Module) -> bool:
    return bool(getattr(module, "is_adder", False))


def is_compute(module: nn.Module) -> bool:
    """A conv or dense layer: multiplication (``nn``) or adder (``adderflow.nn``)."""
    binary = isinstance(module, (BinaryConv1d, BinaryConv2d))
    return not binary and (isinstance(module, (*CONVS, nn.Linear)) or _is_adder(module))


class _Tracer(fx.Tracer):
    """Keeps adderflow's layers whole: their kernels are not traceable, and they are the
    units the quantizer maps to IR ops."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        ours = (BinaryConv1d, BinaryConv2d, SqueezeInteraction)
        return _is_adder(m) or isinstance(m, ours) or super().is_leaf_module(m, qualname)


def trace(model: nn.Module) -> fx.GraphModule:
    """``model`` as an fx graph module; a model fx cannot trace is refused by name."""
    try:
        graph = _Tracer().trace(model)
    except Exception as exc:  # fx raises many kinds (TraceError, TypeError, ...)
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise QuantizationError(
            f"model '{type(model).__name__}' cannot be traced by torch.fx ({detail}); "
            "data-dependent control flow in forward() is not on the export path"
        ) from exc
    gm = fx.GraphModule(model, graph, type(model).__name__)
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm


class _Recorder(fx.Interpreter):
    """Runs the graph, keeping each node's output shape and largest ``|value|``."""

    def __init__(self, gm: fx.GraphModule) -> None:
        super().__init__(gm)
        self.peaks: dict[str, float] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}

    def run_node(self, n: fx.Node):
        out = super().run_node(n)
        if isinstance(out, torch.Tensor) and out.is_floating_point():
            peak = float(out.detach().abs().max()) if out.numel() else 0.0
            self.peaks[n.name] = max(self.peaks.get(n.name, 0.0), peak)
            self.shapes[n.name] = tuple(out.shape[1:])
        return out


@torch.no_grad()
def calibrate_graph(
    gm: fx.GraphModule, x: np.ndarray, batch_size: int = 256
) -> tuple[dict[str, float], dict[str, tuple[int, ...]]]:
    """Every node's peak ``|output|`` over ``x`` and its output shape (one sample)."""
    gm.eval()
    recorder = _Recorder(gm)
    for i in range(0, len(x), batch_size):
        recorder.run(torch.from_numpy(np.ascontiguousarray(x[i : i + batch_size])))
    return recorder.peaks, recorder.shapes


@dataclass
class GraphOp:
    """One quantizable operation. ``node`` is the last fx node it covers: its recorded
    peak and shape are the op's output's. ``inputs`` name producer ops (or ``INPUT``)."""

    name: str
    kind: str  # compute | maxpool | avgpool | gap | flatten | add | cat | mul
    inputs: tuple[str, ...]
    node: str
    module: nn.Module | None = None
    bn: nn.Module | None = None
    act: str | None = None
    params: dict = field(default_factory=dict)

    @property
    def requantized(self) -> bool:
        return self.kind in ("compute", "add", "mul")


@dataclass
class OpGraph:
    """Normalized graph: ops in topological order, the network output's op, and the
    calibration record of the fx nodes (peaks and shapes by node name)."""

    ops: list[GraphOp]
    output: str
    peaks: dict[str, float]
    shapes: dict[str, tuple[int, ...]]
    input_node: str

    def op(self, name: str) -> GraphOp:
        return next(o for o in self.ops if o.name == name)

    def shape(self, name: str) -> tuple[int, ...]:
        return self.shapes[self.input_node if name == INPUT else self.op(name).node]

    def peak(self, name: str) -> float:
        return self.peaks[self.input_node if name == INPUT else self.op(name).node]


def _where(n: fx.Node, gm: fx.GraphModule) -> str:
    if n.op == "call_module":
        return f"node '{n.name}' (module '{n.target}', {type(gm.get_submodule(n.target)).__name__})"
    target = getattr(n.target, "__name__", str(n.target))
    return f"node '{n.name}' ({target})"


class _Normalizer:
    """Walks the fx graph once, folding and aliasing into ``GraphOp``s."""

    def __init__(self, gm: fx.GraphModule, shapes: dict[str, tuple[int, ...]]) -> None:
        self.gm, self.shapes = gm, shapes
        self.ops: list[GraphOp] = []
        self.alias: dict[str, str] = {}  # fx node name -> producing op name (or INPUT)
        self.by_name: dict[str, GraphOp] = {}
        self.scalars: set[str] = set()  # nodes computing shape numbers, not tensors

    def refuse(self, n: fx.Node, reason: str) -> QuantizationError:
        return QuantizationError(f"{_where(n, self.gm)}: {reason}")

    def source(self, n: fx.Node, arg) -> str:
        if not isinstance(arg, fx.Node) or arg.name not in self.alias:
            raise self.refuse(n, f"operand {arg!r} is not a tensor computed from the input")
        return self.alias[arg.name]

    def add(self, n: fx.Node, kind: str, inputs, **extra) -> None:
        op = GraphOp(n.name, kind, tuple(self.source(n, a) for a in inputs), n.name, **extra)
        self.ops.append(op)
        self.by_name[op.name] = op
        self.alias[n.name] = op.name

    def run(self) -> tuple[list[GraphOp], str, str]:
        input_node = output = None
        for n in self.gm.graph.nodes:
            if n.op == "placeholder":
                if input_node is not None:
                    raise self.refuse(n, "a second model input; one input tensor is supported")
                input_node = n.name
                self.alias[n.name] = INPUT
            elif n.op == "output":
                output = self.source(n, n.args[0])
            elif n.op == "call_module":
                self.module(n, self.gm.get_submodule(n.target))
            elif n.op in ("call_function", "call_method"):
                self.function(n)
            else:
                raise self.refuse(n, f"'{n.op}' nodes (parameters used in forward) are refused")
        if output == INPUT or output is None:
            raise QuantizationError("the model computes nothing from its input")
        return self.ops, output, input_node

    # modules -------------------------------------------------------------------------
    def module(self, n: fx.Node, m: nn.Module) -> None:
        if is_compute(m):
            self.compute(n, m)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            self.batch_norm(n, m)
        elif isinstance(m, nn.ReLU):
            self.activation(n, "relu")
        elif isinstance(m, nn.Hardsigmoid):
            self.activation(n, "hardsigmoid")
        elif isinstance(m, (nn.Identity, nn.Dropout)):
            self.alias[n.name] = self.source(n, n.args[0])
        elif isinstance(m, (nn.MaxPool1d, nn.MaxPool2d)):
            self.max_pool(n, m.kernel_size, m.stride, m.padding, m.dilation, m.ceil_mode)
        elif isinstance(m, (nn.AvgPool1d, nn.AvgPool2d)):
            extra = (m.ceil_mode, m.count_include_pad, getattr(m, "divisor_override", None))
            self.avg_pool(n, m.kernel_size, m.stride, m.padding, *extra)
        elif isinstance(m, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
            self.adaptive_pool(n, m.output_size)
        elif isinstance(m, nn.Flatten):
            self.flatten(n, m.start_dim, m.end_dim)
        else:
            raise self.refuse(n, _refusal(m))

    def compute(self, n: fx.Node, m: nn.Module) -> None:
        if len(n.args) != 1 or n.kwargs:
            raise self.refuse(n, "a layer called with more than its input")
        _check_geometry(m, _where(n, self.gm))
        if not _is_conv(m) and len(self.shapes[n.args[0].name]) != 1:
            raise self.refuse(n, "a dense layer on a tensor that is not flat (flatten first)")
        self.add(n, "compute", n.args, module=m)

    def folding_target(self, n: fx.Node, what: str) -> GraphOp:
        """The op whose output ``n`` transforms in place: ``n``'s operand must be that
        op's output, used by ``n`` alone (else the unfolded value is needed elsewhere)."""
        arg = n.args[0]
        name = self.alias.get(arg.name) if isinstance(arg, fx.Node) else None
        op = self.by_name.get(name) if name else None
        if op is None or op.node != arg.name:
            raise self.refuse(n, f"{what} must directly follow {_FOLDS_INTO[what]}")
        if len(arg.users) != 1:
            raise self.refuse(
                n, f"{what} folds into '{op.name}', whose unfolded output is also used elsewhere"
            )
        return op

    def batch_norm(self, n: fx.Node, m: nn.Module) -> None:
        op = self.folding_target(n, "batch norm")
        if op.kind != "compute" or op.bn is not None or op.act is not None:
            raise self.refuse(n, "batch norm must directly follow a conv or dense layer")
        if not m.track_running_stats or m.running_mean is None or not m.affine:
            raise self.refuse(n, "batch norm without running statistics or affine terms")
        op.bn, op.node = m, n.name
        self.alias[n.name] = op.name

    def activation(self, n: fx.Node, act: str) -> None:
        op = self.folding_target(n, act)
        if (
            not op.requantized
            or op.act is not None
            or (act == "hardsigmoid" and op.kind != "compute")
        ):
            raise self.refuse(n, f"{act} must directly follow {_FOLDS_INTO[act]}")
        op.act, op.node = act, n.name
        self.alias[n.name] = op.name

    def max_pool(self, n, kernel, stride, padding, dilation=1, ceil_mode=False) -> None:
        dims = len(self.shapes[n.args[0].name]) - 1
        kernel, padding = _tup(kernel, dims), _tup(padding, dims)
        stride = _tup(stride if stride else kernel, dims)
        if _tup(dilation, dims) != (1,) * dims or ceil_mode:
            raise self.refuse(n, "max pool dilation and ceil_mode are not on the hardware path")
        self.add(n, "maxpool", n.args[:1], params=_geometry(kernel, stride, padding))

    def avg_pool(self, n, kernel, stride, padding, ceil_mode=False, include_pad=True, div=None):
        dims = len(self.shapes[n.args[0].name]) - 1
        kernel, padding = _tup(kernel, dims), _tup(padding, dims)
        stride = _tup(stride if stride else kernel, dims)
        if any(padding) or ceil_mode or div:
            raise self.refuse(
                n, "average pool padding, ceil_mode and divisor_override are not on the "
                "hardware path (it averages whole windows without padding)",
            )  # fmt: skip
        del include_pad  # without padding every window is whole
        self.add(n, "avgpool", n.args[:1], params=_geometry(kernel, stride, padding))

    def adaptive_pool(self, n: fx.Node, size) -> None:
        dims = len(self.shapes[n.args[0].name]) - 1
        if _tup(size, dims) != (1,) * dims:
            raise self.refuse(n, f"adaptive average pool to {size}: only output size 1 (global)")
        self.add(n, "gap", n.args[:1], params={"keepdim": True})

    def flatten(self, n: fx.Node, start: int, end: int) -> None:
        if start != 1 or end != -1:
            raise self.refuse(n, f"flatten({start}, {end}): only flatten(1) (keep the batch)")
        self.add(n, "flatten", n.args[:1])

    # functions and methods ------------------------------------------------------------
    def function(self, n: fx.Node) -> None:
        t, args, kw = n.target, n.args, n.kwargs
        if t in (F.relu, torch.relu, "relu"):
            return self.activation(n, "relu")
        if t in (F.hardsigmoid, "hardsigmoid"):
            return self.activation(n, "hardsigmoid")
        if t in (F.dropout, "contiguous"):
            self.alias[n.name] = self.source(n, args[0])
            return None
        if t in (operator.add, torch.add, "add"):
            return self.binary(n, "add")
        if t in (operator.mul, torch.mul, "mul"):
            return self.binary(n, "mul")
        if t is torch.cat:
            return self.cat(n)
        if t in (torch.flatten, "flatten"):
            return self.flatten(
                n, _arg(args, kw, 1, "start_dim", 0), _arg(args, kw, 2, "end_dim", -1)
            )
        if t in ("mean", torch.mean):
            return self.mean(n)
        if t is operator.getitem:
            return self.getitem(n)
        if t == "size" or (t is getattr and args[1:] == ("shape",)):
            self.scalars.add(n.name)  # a shape query (for a view); its users are checked
            return None
        if t in ("view", "reshape", torch.reshape):
            return self.view(n)
        if t in (F.max_pool1d, F.max_pool2d):
            get = _getter(
                args, kw, ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode")
            )
            return self.max_pool(n, get("kernel_size"), get("stride"), get("padding", 0),
                                 get("dilation", 1), get("ceil_mode", False))  # fmt: skip
        if t in (F.avg_pool1d, F.avg_pool2d):
            names = ("input", "kernel_size", "stride", "padding", "ceil_mode",
                     "count_include_pad", "divisor_override")  # fmt: skip
            get = _getter(args, kw, names)
            extra = (get("ceil_mode", False), True, get("divisor_override"))
            return self.avg_pool(n, get("kernel_size"), get("stride"), get("padding", 0), *extra)
        if t in (F.adaptive_avg_pool1d, F.adaptive_avg_pool2d):
            return self.adaptive_pool(n, _arg(args, kw, 1, "output_size", None))
        if t in (F.hardtanh, "hardtanh", nn.functional.hardtanh_):
            raise self.refuse(n, _HARDTANH)
        raise self.refuse(n, "this function is not on the export path (see docs/quantization.md)")

    def binary(self, n: fx.Node, kind: str) -> None:
        if len(n.args) != 2 or n.kwargs or not all(isinstance(a, fx.Node) for a in n.args):
            raise self.refuse(n, f"{kind} of two tensors (no constants, no alpha) is supported")
        a, b = (self.shapes[a.name] for a in n.args)
        if kind == "add":
            if a != b:
                raise self.refuse(n, f"residual add of shapes {a} and {b} (no broadcasting)")
            self.add(n, "add", n.args)
            return
        gates = [i for i, arg in enumerate(n.args) if self._is_gate(arg)]
        if len(gates) != 1:
            raise self.refuse(
                n, "a product is supported as a squeeze-excite gate: x * hardsigmoid(gate) "
                "with the gate from a conv of shape [C, 1, 1]",
            )  # fmt: skip
        x, gate = n.args[1 - gates[0]], n.args[gates[0]]
        gshape, xshape = self.shapes[gate.name], self.shapes[x.name]
        if len(xshape) != len(gshape) or gshape[0] != xshape[0] or any(d != 1 for d in gshape[1:]):
            raise self.refuse(n, f"gate of shape {gshape} does not broadcast over {xshape}")
        self.add(n, "mul", (x, gate))

    def _is_gate(self, arg: fx.Node) -> bool:
        op = self.by_name.get(self.alias.get(arg.name, ""))
        return op is not None and op.act == "hardsigmoid" and op.node == arg.name

    def cat(self, n: fx.Node) -> None:
        tensors = _arg(n.args, n.kwargs, 0, "tensors", ())
        dim = _arg(n.args, n.kwargs, 1, "dim", 0)
        rank = len(self.shapes[n.name]) + 1
        if dim not in (1, 1 - rank):
            raise self.refuse(n, f"concatenation on dim {dim}: only channels (dim 1)")
        self.add(n, "cat", tuple(tensors))

    def mean(self, n: fx.Node) -> None:
        get = _getter(n.args, n.kwargs, ("input", "dim", "keepdim"))
        rank = len(self.shapes[n.args[0].name]) + 1
        dims = get("dim")
        dims = {d % rank for d in ((dims,) if isinstance(dims, int) else tuple(dims or ()))}
        if dims != set(range(2, rank)):
            raise self.refuse(
                n, f"mean over dims {sorted(dims)}: only the spatial axes (global pool)"
            )
        self.add(n, "gap", n.args[:1], params={"keepdim": bool(get("keepdim", False))})

    def getitem(self, n: fx.Node) -> None:
        source, index = n.args
        if isinstance(source, fx.Node) and source.name in self.scalars:
            self.scalars.add(n.name)  # ``x.shape[0]``: a number, for a view
            return
        shape = self.shapes.get(source.name) if isinstance(source, fx.Node) else None
        if shape is None or not _full_slice(index, (None, *shape)):
            raise self.refuse(n, "indexing is supported only as a slice that keeps every element")
        self.alias[n.name] = self.source(n, source)

    def view(self, n: fx.Node) -> None:
        source = n.args[0]
        if len(self.shapes[n.name]) != 1:
            raise self.refuse(n, "a view/reshape other than flattening each sample")
        self.add(n, "flatten", (source,))


_FOLDS_INTO = {
    "batch norm": "a conv or dense layer",
    "relu": "a conv, dense layer, batch norm or residual add (it folds into a requantization)",
    "hardsigmoid": "a conv or dense layer (it folds into its requantization)",
}
_HARDTANH = (
    "hardtanh clamps at ±1, which no power-of-two requantization's saturation matches "
    "(fixed<b, f> ends at 1 - 2^-f); use ReLU, or a binary network (its hardtanh precedes sign)"
)


def _refusal(m: nn.Module) -> str:
    if isinstance(m, (BinaryConv1d, BinaryConv2d, SqueezeInteraction)):
        return (
            "binary layers and SI units are traced by quant.graph_binary (quantize_graph "
            "sends networks holding them there)"
        )
    if isinstance(m, nn.Hardtanh):
        return _HARDTANH
    return f"{type(m).__name__} is not on the export path (see docs/quantization.md)"


def _is_conv(m: nn.Module) -> bool:
    return hasattr(m, "kernel_size")


def _check_geometry(m: nn.Module, where: str) -> None:
    if not _is_conv(m):
        return
    if any(d != 1 for d in _tup(m.dilation, len(m.kernel_size))):
        raise QuantizationError(
            f"{where}: dilation {tuple(m.dilation)} (the IR's convs are not dilated)"
        )
    if getattr(m, "padding_mode", "zeros") != "zeros":
        raise QuantizationError(f"{where}: padding_mode '{m.padding_mode}' (only zero padding)")
    if getattr(m, "p", 1.0) != 1.0:
        raise QuantizationError(f"{where}: an adder layer with p={m.p} (export needs p=1)")


def conv_padding(m: nn.Module) -> tuple[int, ...]:
    """A conv's symmetric padding per spatial axis (``'same'``/``'valid'`` resolved)."""
    if m.padding == "valid":
        return (0,) * len(m.kernel_size)
    if m.padding == "same":
        return tuple(k // 2 for k in m.kernel_size)  # odd kernels: torch refuses even ones
    return tuple(m.padding)


def _geometry(kernel, stride, padding) -> dict:
    return {"kernel": kernel, "stride": stride, "padding": padding}


def _tup(value, dims: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * dims


def _arg(args, kwargs, index: int, name: str, default):
    return args[index] if len(args) > index else kwargs.get(name, default)


def _getter(args, kwargs, names):
    def get(name, default=None):
        return _arg(args, kwargs, names.index(name), name, default)

    return get


def _full_slice(index, shape: tuple) -> bool:
    """Whether ``x[index]`` keeps every element (``shape`` starts with the batch axis)."""
    index = index if isinstance(index, tuple) else (index,)
    if len(index) > len(shape):
        return False
    for item, size in zip(index, shape, strict=False):
        if item is Ellipsis:
            return False  # positions after it are not aligned; not needed by the zoo
        if not isinstance(item, slice) or item.step not in (None, 1):
            return False
        if item.start not in (None, 0):
            return False
        stop = item.stop
        if stop is not None and (size is None or stop < size):
            return False
    return True


def trace_graph(model: nn.Module, calib_x: np.ndarray) -> OpGraph:
    """``model`` traced, calibrated on ``calib_x`` and normalized (see the module doc)."""
    gm = trace(model)
    peaks, shapes = calibrate_graph(gm, calib_x)
    ops, output, input_node = _Normalizer(gm, shapes).run()
    return OpGraph(ops, output, peaks, shapes, input_node)
