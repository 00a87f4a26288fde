"""The sweep's generator for a `seeds:` block: a Tune searcher that runs every cell on seeds
0..start-1, then, as results arrive, adds the next seed to both cells of each effect still open
(`se_train/decide.py`) until it is decided or has run `max` seeds.

Its queue is Tune's: the trials it suggests wait as pending trials, which is the demand an
autoscaling cluster grows on. Its state (what ran, what each run gave, what is queued) is saved
with Tune's experiment state and restored by `resume`, so no finished seed is rerun.
"""

from __future__ import annotations

import pickle
from typing import Any

from ray.tune.search import Searcher

from se_train.config import SweepSpec
from se_train.decide import Progress, value_of
from se_train.sweep.cluster import NO_CAP

KEPT = ("valid_acc", "test_acc", "diverged")  # what a run's value is made of (`decide.value_of`)


class AdaptiveSeeds(Searcher):
    def __init__(self, spec: SweepSpec, axes: list[str], max_concurrent: int = NO_CAP) -> None:
        """`axes`: what tells the sweep's cells apart, the grid's (after a search, not the chosen
        fields: SE and no SE are compared each at its own best)."""
        super().__init__()
        self.metric_name = spec.seeds.metric
        self.max_concurrent = max_concurrent
        self.progress = Progress.of(spec.cells(), axes, spec.seeds)
        self.cells = self.progress.cells
        self.planned = dict.fromkeys(self.cells, spec.seeds.start)  # seeds 0..planned-1 run or queued, per cell
        self.queue = [(k, seed) for seed in range(spec.seeds.start) for k in self.cells]  # seed by seed: pairs finish together
        self.trials: dict[str, tuple[str, int]] = {}  # trial id -> (cell, seed), every trial suggested
        self.running: dict[str, list[dict[str, Any]]] = {}  # trial id -> its results so far (the KEPT keys)

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if not self.queue:
            return Searcher.FINISHED if not self.running and not self._extend() else None
        if self.max_concurrent != NO_CAP and len(self.running) >= self.max_concurrent:
            return None
        key, seed = self.queue.pop(0)
        self.trials[trial_id] = (key, seed)
        self.running[trial_id] = []
        return {**self.cells[key], "seed": seed}

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if trial_id in self.trials:  # a resumed trial's results start again after its checkpoint
            self.running.setdefault(trial_id, []).append({k: result.get(k) for k in KEPT})

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False) -> None:
        if trial_id not in self.trials:
            return
        key, seed = self.trials[trial_id]
        results = self.running.pop(trial_id, [])
        if result and (not results or results[-1] != {k: result.get(k) for k in KEPT}):
            results.append({k: result.get(k) for k in KEPT})
        self.progress.record({**self.cells[key], "seed": seed}, value_of(results, error, self.metric_name))
        self._extend()

    def _extend(self) -> bool:
        """Queue the next seed for both cells of every open effect, once both have finished every
        seed they share, below `max`. True if anything was queued."""
        added = False
        values, rule = self.progress.values, self.progress.rule
        for effect in self.progress.effects:
            pair = (effect.treated, effect.control)
            shared = min(self.planned[k] for k in pair)
            if shared >= rule.max or any(s not in values[k] for k in pair for s in range(shared)):
                continue
            if self.progress.state(effect) != "open":
                continue
            for k in pair:
                if self.planned[k] == shared:  # the other cell may run that seed already, for another effect
                    self.queue.append((k, shared))
                    self.planned[k] = shared + 1
                    added = True
        return added

    def lines(self) -> list[str]:
        """The live view's lines: seeds per cell, the effects still open, the trials to come."""
        return [*self.progress.lines(), f"queued, not yet started: {len(self.queue)}"]

    def to_come(self) -> int:
        return len(self.queue)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as f:
            pickle.dump(self.__dict__, f)

    def restore(self, checkpoint_path: str) -> None:
        """The saved state, with this command's concurrency cap (as `GridCells` keeps it)."""
        cap = self.max_concurrent
        with open(checkpoint_path, "rb") as f:
            self.__dict__.update(pickle.load(f))
        self.max_concurrent = cap
