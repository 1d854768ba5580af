"""Progressive norm schedule: train adder layers from ℓ2 towards ℓ1.

Squared-ℓ2 layers train like convolutions (their gradient is exact and smooth), ℓ1 layers
are the multiplication-free target; walking ``p`` from 2 to 1 over training hands the
network from one to the other gradually. ``p`` is the adder layers' own attribute (see
``adderflow.nn.adder``: between 1 and 2 the output interpolates the two distances), so a
schedule is only something that sets it.
"""

from __future__ import annotations

from torch import nn


def progressive_p(t: float, start: float = 2.0, end: float = 1.0) -> float:
    """``p`` at training fraction ``t`` (clamped to [0, 1]): linear from ``start`` to ``end``."""
    t = min(max(t, 0.0), 1.0)
    return start + (end - start) * t


def set_adder_p(model: nn.Module, p: float) -> int:
    """Set ``p`` on every adder layer of ``model``; returns how many were set."""
    if not 1.0 <= p <= 2.0:
        raise ValueError(f"set_adder_p: p must lie in [1, 2], got {p}")
    layers = [m for m in model.modules() if getattr(m, "is_adder", False) and hasattr(m, "p")]
    for layer in layers:
        layer.p = p
    return len(layers)


class PNormSchedule:
    """Sets ``p = progressive_p(step / total_steps)`` on the model's adder layers.

    Call ``step()`` once per epoch or per batch, whichever ``total_steps`` counts; it
    returns the ``p`` now in force. Construction applies ``p(0)``.
    """

    def __init__(
        self, model: nn.Module, total_steps: int, start: float = 2.0, end: float = 1.0
    ) -> None:
        if total_steps < 1:
            raise ValueError(f"PNormSchedule: total_steps must be positive, got {total_steps}")
        self.model, self.total_steps, self.start, self.end = model, total_steps, start, end
        self.steps = 0
        self.p = self._apply()

    def _apply(self) -> float:
        p = progressive_p(self.steps / self.total_steps, self.start, self.end)
        set_adder_p(self.model, p)
        return p

    def step(self) -> float:
        self.steps += 1
        self.p = self._apply()
        return self.p
