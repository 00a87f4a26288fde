"""A sweep as a typed plan: the Tune runs it makes (its stages), each with its grid, its folder and
what Tune is given for it. `--dry-run` prints the plan; `run` and `resume` execute it
(`runner`), building Tune's objects from each stage's settings (`tuner`). Free of Ray and torch.

A sweep without `search:` is one stage, its grid. With `search:` it is two: the search (each cell
at each drawn setting, on the search's seeds), then the comparison, each cell at the setting the
search chose for it, known only once the search is done (`search.comparison_spec`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from se_train import storage
from se_train.blocks import Asha
from se_train.config import SweepSpec
from se_train.trial_config import TrialConfig
from se_train.sweep.search import SEARCH, comparison_spec, search_spec


@dataclass(frozen=True)
class TuneSettings:
    """What Tune is given for one stage, in se-sweep's terms (`tuner.tune_configs` makes Tune's
    objects of it)."""

    searcher: Literal["cells", "adaptive seeds"]  # every cell once, in file order; or seeds while effects are open
    samples: int  # Tune's num_samples: the most trials the searcher may suggest
    planned: int  # trials known before the stage starts (the live view's "to come"); 0 with adaptive seeds
    asha: Asha | None  # early stopping on valid accuracy; divergence is always stopped
    max_epochs: int  # ASHA's max_t
    retries: int  # Tune's retries of a failed one-worker trial; a multi-worker trial's TorchTrainer retries its workers
    trial_resources: dict[str, float]  # what Tune reserves for each trial


# A multi-worker trial only waits on its TorchTrainer: it holds no CPU. With Tune's default of one
# CPU per trial, a 2-CPU machine is filled by driver + Train worker, Ray Data can never schedule
# its read tasks, and the sweep hangs forever (measured here with ray 2.60). Tune needs a
# non-empty bundle, so the driver reserves a little memory instead (logical: it only guides
# scheduling). A one-worker trial trains in its own process and holds that worker's resources.
DRIVER_RESOURCES = {"cpu": 0, "memory": 512 * 2**20}


@dataclass(frozen=True)
class Stage:
    """One Tune run: its grid, Tune's experiment folder (root/name) and its settings."""

    kind: Literal["search", "comparison"]
    spec: SweepSpec
    root: str
    name: str
    searched: tuple[str, ...] = ()  # a search's fields: its tries are named by them

    @property
    def folder(self) -> str:
        return storage.join(self.root, self.name)

    def describe(self) -> str:
        t = self.settings()
        when = "after the search, " if self.kind == "comparison" and self.spec.search else ""
        return (f"{self.kind} in {self.folder}: {when}{t.samples if t.searcher == 'cells' else 'up to ' + str(t.samples)} trial(s) "
                f"({t.searcher}), each reserving {', '.join(f'{v:g} {k}' for k, v in t.trial_resources.items())}; "
                f"{t.retries} retr{'y' if t.retries == 1 else 'ies'} per trial; "
                + (f"ASHA on valid accuracy (grace {t.asha.grace_period}, factor {t.asha.reduction_factor:g})" if t.asha else "no early stopping")
                + "; diverging trials stopped")

    def settings(self) -> TuneSettings:
        spec, res = self.spec, self.spec.resources
        cells = len(spec.cells())
        one_worker = res.workers_per_trial == 1
        return TuneSettings(
            searcher="adaptive seeds" if spec.seeds else "cells",
            samples=cells * spec.seeds.max if spec.seeds else cells,
            planned=0 if spec.seeds else cells,
            asha=spec.stopping.asha,
            max_epochs=max(TrialConfig.planned(c, "epochs") for c in spec.cells()),
            retries=res.max_failures if one_worker else 0,
            trial_resources={"cpu": res.cpus_per_worker, "gpu": res.gpus_per_worker} if one_worker else DRIVER_RESOURCES,
        )


@dataclass(frozen=True)
class Plan:
    spec: SweepSpec  # as the sweep file says it
    experiment: str  # <storage>/<name>

    def search(self) -> Stage:
        """The search stage, in the experiment's search/ folder."""
        return Stage("search", search_spec(self.spec), self.experiment, SEARCH, tuple(self.spec.search.space()))

    def comparison(self, chosen: dict[str, Any] | None = None) -> Stage:
        """The comparison: the grid itself, or (after a search: `chosen`) each cell at its chosen setting."""
        spec = comparison_spec(self.spec, chosen) if self.spec.search else self.spec
        return Stage("comparison", spec, storage.parent(self.experiment), self.spec.name)

    def describe(self, spread: float | None = None) -> str:
        """The plan as `--dry-run` prints it: each stage and what Tune is given for it, the expanded
        grid, and with a `seeds:` block its power preview (`spread`: a difference's per-seed
        standard deviation in points, to say it in points)."""
        spec, res = self.spec, self.spec.resources
        per_trial = f"{res.workers_per_trial} worker(s) x {res.cpus_per_worker} CPU" + (
            f" + {res.gpus_per_worker} GPU" if res.gpus_per_worker else ""
        )
        lines = [f"sweep {spec.name}: {len(spec.cells())} {'cells' if spec.seeds else 'trials'}, each {per_trial}; "
                 f"data from {storage.normalize(spec.data_root)}"]
        if spec.search:
            from se_train.sweep.search import settings

            tried = "; ".join(", ".join(f"{k}={v:.3g}" for k, v in s.items()) for s in settings(spec))
            lines += [
                f"first, the search: {len(self.search().spec.cells())} tries of {spec.search.epochs} epoch(s) on seeds {spec.search.seeds}, "
                f"every cell at each of {tried} (the test split unread)",
                "then the comparison, each cell at its chosen setting:",
            ]
        if spec.seeds:
            from se_train.method_text import preview
            from se_train.progress import comparisons_of, effects_of
            from se_train.rule import Rule

            s, axes = spec.seeds, spec.axes()
            effects = effects_of(spec.cells(), axes, comparisons_of(spec))
            rule = Rule.of(s, len(effects))
            first = min(rule.looks_from, s.max)  # the seeds before the first look that can decide run at once
            lines.append(
                f"seeds: each cell first runs seeds 0..{first - 1}, then adds seeds while one of its {len(effects)} effect(s) is open, "
                f"up to {s.max} ({len(spec.cells()) * first} to {len(spec.cells()) * s.max} trials); margin ±{s.margin} points, "
                f"{s.confidence:.0%} confidence for all verdicts together, on {s.metric}, {s.method}"
            )
            lines += [f"  {e.label()}" for e in effects]
            lines += preview(rule, len(effects), spread)
        elif spec.compare:  # the grid lists its seeds: each effect a fixed-n interval over them
            from se_train.progress import comparisons_of, effects_of

            effects = effects_of(spec.cells(), spec.axes(), comparisons_of(spec))
            lines.append(f"effects: {len(effects)}, each a 95% t-interval over the seeds the grid lists (fixed n)")
            lines += [f"  {e.label()}" for e in effects]
        axes = spec.axes()
        lines.append("  ".join(f"{a:>12}" for a in ["#", *axes]))
        for i, cell in enumerate(spec.cells()):
            lines.append("  ".join(f"{v!s:>12}" for v in [i, *(cell.get(a, "-") for a in axes)]))
        # A search's comparison runs each cell at a setting not chosen yet: its grid stands for it.
        compared = Stage("comparison", spec, storage.parent(self.experiment), spec.name)
        lines.append("Tune runs:")
        lines += [f"  {stage.describe()}" for stage in ([self.search()] if spec.search else []) + [compared]]
        return "\n".join(lines)
