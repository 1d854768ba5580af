"""Turn a user's own model into an adder network in one call.

``to_adder(model)`` replaces eligible ``nn.Conv2d`` and ``nn.Linear`` layers with
``AdderConv2d`` / ``AdderLinear``, keeping the first and the last multiplication layers by
default (the AdderNet papers do). Adder networks stall at chance accuracy without batch
norm after each adder layer, so a replaced layer whose output does not go straight into a
batch norm gets one inserted — or, with ``insert_bn=False``, the swap is refused with an
error naming the layer.

Whether a batch norm follows is read from the model's dataflow graph (``torch.fx``), not
from attribute names, so ``conv1``/``bn1`` naming conventions do not matter.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import fx, nn

from adderflow.errors import ConfigError
from adderflow.nn.adder import AdderConv2d, AdderLinear

_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d)


@dataclass(frozen=True)
class SwapReport:
    swapped: tuple[str, ...]
    kept: tuple[str, ...]
    inserted_bn: tuple[str, ...]


def _eligible(model: nn.Module) -> list[str]:
    """Names of Conv2d/Linear layers in the order the forward pass calls them."""
    graph = _trace(model)
    names = [
        str(node.target)
        for node in graph.nodes
        if node.op == "call_module"
        and isinstance(model.get_submodule(str(node.target)), (nn.Conv2d, nn.Linear))
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


def _adder_twin(layer: nn.Module, name: str) -> nn.Module:
    if isinstance(layer, nn.Linear):
        twin = AdderLinear(layer.in_features, layer.out_features)
    else:
        if layer.groups != 1 or layer.padding_mode != "zeros":
            raise ConfigError(f"layer '{name}': grouped or non-zero-padded convs are not swapped")
        twin = AdderConv2d(
            layer.in_channels,
            layer.out_channels,
            layer.kernel_size,
            layer.stride,
            layer.padding,
            layer.dilation,
        )
    return twin


def _with_bn(twin: nn.Module) -> nn.Sequential:
    channels = twin.out_features if isinstance(twin, AdderLinear) else twin.out_channels
    bn = nn.BatchNorm1d(channels) if isinstance(twin, AdderLinear) else nn.BatchNorm2d(channels)
    return nn.Sequential(twin, bn)


def _replace(model: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, module)


def to_adder(
    model: nn.Module, *, keep_first: bool = True, keep_last: bool = True, insert_bn: bool = True
) -> SwapReport:
    """Swap ``model``'s eligible layers for adder layers in place; returns what changed."""
    graph = _trace(model)
    names = _eligible(model)
    keep = set()
    if keep_first and names:
        keep.add(names[0])
    if keep_last and names:
        keep.add(names[-1])
    swapped, inserted = [], []
    for name in names:
        if name in keep:
            continue
        twin = _adder_twin(model.get_submodule(name), name)
        if not _followed_by_bn(model, graph, name):
            if not insert_bn:
                raise ConfigError(
                    f"layer '{name}' is not followed by batch norm; adder layers need one "
                    "(pass insert_bn=True to add it)"
                )
            twin = _with_bn(twin)
            inserted.append(name)
        _replace(model, name, twin)
        swapped.append(name)
    return SwapReport(tuple(swapped), tuple(sorted(keep)), tuple(inserted))
