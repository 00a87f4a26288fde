"""Divergence is an outcome, not a crash: every step's loss and global gradient norm are checked
before the step is taken. The first non-finite one, or a loss above the ceiling, stops the trial,
which then reports what went bad and the last good values."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class Divergence:
    step: int  # global optimizer steps taken when the loss or gradient went bad
    loss: float  # that loss (the step's, or the valid loss)
    last_finite_loss: float  # the loss of the last step taken
    grad_norm: float  # the bad gradient norm, or the last step's when the loss went bad


@dataclass
class DivergenceCheck:
    """Checks every step's loss and global gradient norm before the step is taken; keeps the last
    step's loss and norm for the report."""

    ceiling: float
    last_finite: float = math.nan
    grad_norm: float = math.nan

    def __call__(self, loss: float, grad_norm: float, step: int) -> Divergence | None:
        if not math.isfinite(grad_norm):
            return Divergence(step, loss, self.last_finite, grad_norm)
        if not math.isfinite(loss) or loss > self.ceiling:
            return Divergence(step, loss, self.last_finite, self.grad_norm)
        self.last_finite, self.grad_norm = loss, grad_norm
        return None
