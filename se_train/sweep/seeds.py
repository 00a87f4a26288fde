"""The sweep's generator for a `seeds:` block: a Tune searcher that runs every cell on seeds
0..start-1, then, as results arrive, adds the next seed to both cells of each effect still open
(`se_train/decide.py`) until it is decided or has run `max` seeds.

Its queue is Tune's: the trials it suggests wait as pending trials, which is the demand an
autoscaling cluster grows on. It keeps no state of its own on disk: on `resume` it is rebuilt
from the trials Tune restores (Tune's newest experiment state) and what they reported, so the two
can never disagree, whatever a kill cut short, and no finished seed is rerun.
"""

from __future__ import annotations

from typing import Any

from ray.tune.search import SearchGenerator, Searcher

from se_train import cell, tune_files
from se_train.config import SweepSpec
from se_train.progress import IMAGES, Progress, comparisons_of
from se_train.result import Key, TuneStatus, Verdict
from se_train.sweep import ray_private
from se_train.sweep.cluster import NO_CAP

KEPT = (Key.VALID_ACC, Key.TEST_ACC, Key.DIVERGED, *IMAGES.values())  # what a run's value and step are made of (`decide.value_of`, `step_of`)


class AdaptiveSeeds(Searcher):
    def __init__(self, spec: SweepSpec, axes: list[str], experiment: str, max_concurrent: int = NO_CAP) -> None:
        """`axes`: what tells the sweep's cells apart, the grid's (after a search, not the chosen
        fields: SE and no SE are compared each at its own best). `experiment`: the Tune
        experiment folder its trials write to."""
        super().__init__()
        self.experiment = experiment
        self.max_concurrent = max_concurrent
        self.progress = Progress.of(spec.cells(), axes, spec.seeds, comparisons_of(spec))
        self.cells = self.progress.cells
        # Every cell first runs the seeds before the rule's first look (none before it can decide)
        first = min(self.progress.rule.looks_from, self.progress.rule.max)
        self.planned = dict.fromkeys(self.cells, first)  # seeds 0..planned-1 run or queued, per cell
        self.queue = [(k, seed) for seed in range(first) for k in self.cells]  # seed by seed: pairs finish together
        self.trials: dict[str, tuple[str, int]] = {}  # trial id -> (cell, seed), every trial suggested
        self.running: dict[str, list[dict[str, Any]]] = {}  # trial id -> its results so far (the KEPT keys)

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        if not self.queue:  # every completion (and a restore) has already queued what open effects need
            return Searcher.FINISHED if not self.running else None
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
        self.progress.record({**self.cells[key], "seed": seed}, results, error)
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
            if self.progress.state(effect) != Verdict.OPEN:
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

    def grow(self, seeds: Any) -> None:
        """Continue to a raised `seeds.max` (an anytime rule only: `runner` refuses the rest)."""
        self.progress.grow(seeds)

    def most(self) -> int:
        """The most trials the sweep can run: every cell to max."""
        return len(self.cells) * self.progress.rule.max

    def save_to_dir(self, checkpoint_dir: str, session_str: str = "default") -> None:
        """Nothing to save: `restore_from_dir` rebuilds the state from Tune's own (a copy saved
        here could be cut short by a kill, or be older than Tune's trials)."""

    def restore_from_dir(self, checkpoint_dir: str) -> None:
        """The state as Tune restores its trials: each trial of the newest experiment state is a
        cell's seed, finished (its value taken from what Tune recorded of its results in that same
        state) or still to run (Tune reruns it under the same id); the seeds below each cell's
        highest that no trial holds are queued again; then open effects extend as usual. This
        command's cap is kept. Not from the trials' result.json: a killed driver may not have
        synced them to storage yet."""
        self.trials.clear()
        self.running.clear()
        for trial in tune_files.read_state(self.experiment):
            config = trial.config
            key, seed = cell.key(config, self.progress.axes), int(config["seed"])
            if key not in self.cells:
                continue
            self.trials[trial.trial_id] = (key, seed)
            self.planned[key] = max(self.planned[key], seed + 1)
            results = _recorded(trial)
            if trial.finished:
                self.progress.record(config, results, trial.status == TuneStatus.ERROR)
            else:
                self.running[trial.trial_id] = results
        taken = set(self.trials.values())
        self.queue = [(k, s) for s in range(max(self.planned.values(), default=0)) for k in self.cells
                      if s < self.planned[k] and (k, s) not in taken]
        self._extend()


def _recorded(trial: tune_files.SavedTrial) -> list[dict[str, Any]]:
    """What Tune's saved state holds of a trial's results, as the searcher keeps them: its best
    valid accuracy (Tune's running max) and its last result; none before its first report."""
    last = trial.last_result
    if Key.EPOCH not in last:
        return []
    best = (trial.metric_analysis.get(Key.VALID_ACC) or {}).get("max", last.get(Key.VALID_ACC))
    return [{**{k: last.get(k) for k in KEPT}, Key.VALID_ACC: best}]


class ReopenedSeeds(SearchGenerator):
    """Tune's wrapper of a restored AdaptiveSeeds. Tune saves the wrapper's "finished" and its
    trial budget with its state, so a sweep that had run out of open effects would stay finished
    after its `max` grew: here the searcher's own state, rebuilt on restore, decides both."""

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)  # after the searcher's restore_from_dir (Ray 2.60's SearchGenerator.restore_from_dir)
        ray_private.reopen_search(self, self.searcher.most(), bool(self.searcher.to_come()))
