"""Block features for feature-level distillation, read with forward hooks."""

from __future__ import annotations

from torch import Tensor, nn

from adderflow.errors import ConfigError


def feature_blocks(model: nn.Module) -> list[nn.Module]:
    """The modules whose outputs are a model's block features, in forward order.

    Zoo models name them (``model.feature_blocks()``); any other model must too.
    """
    blocks = getattr(model, "feature_blocks", None)
    if blocks is None:
        raise ConfigError(
            f"{type(model).__name__} has no feature_blocks(); feature distillation needs to "
            "know which block outputs to match"
        )
    return list(blocks())


class FeatureTap:
    """Keeps the latest output of each given module (a forward hook per module)."""

    def __init__(self, modules: list[nn.Module]) -> None:
        self.outputs: list[Tensor | None] = [None] * len(modules)
        self._handles = [
            module.register_forward_hook(self._hook(i)) for i, module in enumerate(modules)
        ]

    def _hook(self, index: int):
        def hook(_module, _inputs, output) -> None:
            self.outputs[index] = output

        return hook

    def features(self) -> list[Tensor]:
        if any(o is None for o in self.outputs):
            raise RuntimeError("FeatureTap: read features before a forward pass")
        return [o for o in self.outputs if o is not None]

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
