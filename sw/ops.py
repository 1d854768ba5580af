"""``adderflow.ops.count(model, input_shape)``: parameters and arithmetic of a PyTorch model.

The public face of ``adderflow.opcount`` (forward hooks on one sample; conventions in
docs/cost-model.md): multiplication layers count one multiplication and one addition per
term, adder layers two additions, binary layers one XNOR and one popcount bit. The IR-side
cost model with energies is ``adderflow.sim.cost``.
"""

from __future__ import annotations

from torch import nn

from adderflow.opcount import count_ops


def count(model: nn.Module, input_shape: tuple[int, ...]) -> dict[str, int]:
    """``{"params", "add", "mul", "xnor", "popcount"}`` for one sample of ``input_shape``."""
    ops = count_ops(model, tuple(input_shape)).as_dict()
    return {"params": sum(p.numel() for p in model.parameters()), **ops}
