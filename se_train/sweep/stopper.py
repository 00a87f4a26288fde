"""Stop diverging trials. ASHA never stops a NaN trial (its cutoff comparison is false for NaN),
so a dedicated Tune `Stopper` stops any trial whose reported loss is non-finite or above the
ceiling, or that reports `diverged` itself."""

from __future__ import annotations

import math
from typing import Any

from ray.tune import Stopper

from se_train.trial_config import TrialConfig
from se_train.result import Key


class DivergenceStopper(Stopper):
    def __init__(self, metric: str = Key.TRAIN_LOSS) -> None:
        self.metric = metric

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        if result.get(Key.DIVERGED):
            return True
        loss = result.get(self.metric)
        if loss is None:
            return False
        ceiling = TrialConfig.planned(result.get("config", {}), "loss_ceiling")
        return not math.isfinite(loss) or loss > ceiling

    def stop_all(self) -> bool:
        return False
