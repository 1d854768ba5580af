"""Turn a user's own model into an adder or binary network in one call.

``to_adder(model)`` replaces eligible ``nn.Conv1d``/``nn.Conv2d``/``nn.Linear`` layers
with ``AdderConv1d``/``AdderConv2d``/``AdderLinear`` (groups, stride, padding and dilation
kept), and ``to_binary(model)`` replaces convolutions with ``BinaryConv1d``/
``BinaryConv2d`` (dense layers stay multiplications, as in binary-network practice). Both
keep the first and the last multiplication layers by default (the papers do). Adder and
binary networks stall without batch norm after each such layer, so a replaced layer whose
output does not go straight into a batch norm gets one inserted — or, with
``insert_bn=False``, the swap is refused with an error naming the layer.

Whether a batch norm follows is read from the model's dataflow graph (``torch.fx``), not
from attribute names, so ``conv1``/``bn1`` naming conventions do not matter.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import fx, nn

from adderflow.errors import ConfigError
from adderflow.nn.adder import AdderConv1d, AdderConv2d, AdderLinear
from adderflow.nn.binary import BinaryConv1d, BinaryConv2d

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
_ELIGIBLE = (nn.Conv1d, nn.Conv2d, nn.Linear)
_TWINS = {
    ("adder", nn.Conv1d): AdderConv1d,
    ("adder", nn.Conv2d): AdderConv2d,
    ("binary", nn.Conv1d): BinaryConv1d,
    ("binary", nn.Conv2d): BinaryConv2d,
}


@dataclass(frozen=True)
class SwapReport:
    swapped: tuple[str, ...]
    kept: tuple[str, ...]
    inserted_bn: tuple[str, ...]


def _eligible(model: nn.Module) -> list[str]:
    """Names of Conv1d/Conv2d/Linear layers in the order the forward pass calls them."""
    graph = _trace(model)
    names = [
        str(node.target)
        for node in graph.nodes
        if node.op == "call_module" and isinstance(model.get_submodule(str(node.target)), _ELIGIBLE)
    ]
    return list(dict.fromkeys(names))


def _trace(model: nn.Module) -> fx.Graph:
    try:
        return fx.symbolic_trace(model).graph
    except Exception as exc:  # fx raises many types for data-dependent control flow
        raise ConfigError(
            f"cannot trace {type(model).__name__} to find its layers ({exc}); "
            "swap its submodules one by one"
        ) from exc


def _followed_by_bn(model: nn.Module, graph: fx.Graph, name: str) -> bool:
    for node in graph.nodes:
        if node.op == "call_module" and str(node.target) == name:
            users = list(node.users)
            return (
                len(users) == 1
                and users[0].op == "call_module"
                and isinstance(model.get_submodule(str(users[0].target)), _BATCH_NORMS)
            )
    return False


def _twin(layer: nn.Module, name: str, kind: str) -> nn.Module | None:
    """The ``kind`` layer computing in ``layer``'s place, or None where kind has none."""
    if isinstance(layer, nn.Linear):
        return AdderLinear(layer.in_features, layer.out_features) if kind == "adder" else None
    if layer.padding_mode != "zeros":
        raise ConfigError(f"layer '{name}': padding mode '{layer.padding_mode}' is not swapped")
    cls = _TWINS[kind, nn.Conv1d if isinstance(layer, nn.Conv1d) else nn.Conv2d]
    geometry = (layer.kernel_size, layer.stride, layer.padding, layer.dilation, layer.groups)
    if kind == "adder":
        return cls(layer.in_channels, layer.out_channels, *geometry)
    return cls(layer.in_channels, layer.out_channels, *geometry, bias=False)


def _with_bn(twin: nn.Module) -> nn.Sequential:
    if isinstance(twin, AdderLinear):
        return nn.Sequential(twin, nn.BatchNorm1d(twin.out_features))
    two_d = isinstance(twin, (AdderConv2d, BinaryConv2d))
    bn = nn.BatchNorm2d if two_d else nn.BatchNorm1d
    return nn.Sequential(twin, bn(twin.out_channels))


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def swap(
    model: nn.Module,
    kind: str,
    *,
    keep_first: bool = True,
    keep_last: bool = True,
    insert_bn: bool = True,
) -> SwapReport:
    """Swap ``model``'s eligible layers for ``kind`` (adder | binary) layers in place."""
    if kind not in ("adder", "binary"):
        raise ConfigError(f"swap kind must be 'adder' or 'binary', got {kind!r}")
    graph = _trace(model)
    names = _eligible(model)
    keep = set()
    if keep_first and names:
        keep.add(names[0])
    if keep_last and names:
        keep.add(names[-1])
    swapped, inserted = [], []
    for name in names:
        twin = None if name in keep else _twin(model.get_submodule(name), name, kind)
        if twin is None:
            keep.add(name)
            continue
        if not _followed_by_bn(model, graph, name):
            if not insert_bn:
                raise ConfigError(
                    f"layer '{name}' is not followed by batch norm; {kind} layers need one "
                    "(pass insert_bn=True to add it)"
                )
            twin = _with_bn(twin)
            inserted.append(name)
        _replace(model, name, twin)
        swapped.append(name)
    return SwapReport(tuple(swapped), tuple(sorted(keep)), tuple(inserted))


def to_adder(model: nn.Module, **options) -> SwapReport:
    """Swap eligible convolutions and dense layers for adder layers in place."""
    return swap(model, "adder", **options)


def to_binary(model: nn.Module, **options) -> SwapReport:
    """Swap eligible convolutions for binary ones in place (dense layers are kept)."""
    return swap(model, "binary", **options)
