"""A sweep's effects and where they stand: its questions (`Comparison`: `compare:`, else SE − no
SE and SELU − ReLU), the effects among its cells, each run's value and its metric's step, and
`Progress`, what the searcher, the live view and `status` keep of a sweep as its runs finish.
Decided by the engine (`decide.py`) under the sweep's rule (`rule.py`)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from se_train import cell
from se_train.decide import Look, history
from se_train.result import Key, Verdict
from se_train.rule import Rule

@dataclass(frozen=True)
class Comparison:
    """A question: `treated` against `control` on one grid axis, paired by seed within cells that
    agree on every other axis."""

    axis: str
    treated: Any
    control: Any

    @property
    def name(self) -> str:
        return STUDY_NAMES.get((self.axis, self.treated, self.control)) or f"{self.axis}: {self.treated} - {self.control}"


STUDY_NAMES = {("se", True, False): "SE - no SE", ("activation", "selu", "relu"): "SELU - ReLU"}
STUDY = tuple(Comparison(*key) for key in STUDY_NAMES)  # without `compare:`, wherever their axes vary


def comparisons_of(spec: Any) -> list[Comparison]:
    """A sweep's questions: its `compare:` list, else the study's two."""
    return [Comparison(c.axis, c.treated, c.control) for c in spec.compare] if spec.compare else list(STUDY)


@dataclass(frozen=True)
class Effect:
    comparison: Comparison
    treated: str  # cell keys (`cell.key`)
    control: str
    where: dict[str, Any]  # the other axes' values, e.g. {"model": "simple_cnn", "activation": "relu"}

    @property
    def name(self) -> str:
        return self.comparison.name

    def label(self) -> str:
        return f"{self.name}, " + ", ".join(f"{k}={v}" for k, v in self.where.items())


def effects_of(cells: Sequence[Mapping[str, Any]], axes: Sequence[str], comparisons: Sequence[Comparison] = STUDY) -> list[Effect]:
    """Every effect among `cells`: two cells that differ only in a comparison's axis, one at its
    treated value and one at its control."""
    keys = {cell.key(c, axes): c for c in cells}
    found = []
    for comparison in comparisons:
        for key, values in keys.items():
            if comparison.axis not in axes or values.get(comparison.axis) != comparison.treated:
                continue
            other = cell.key({**values, comparison.axis: comparison.control}, axes)
            if other in keys:
                where = {a: values.get(a) for a in axes if a not in (comparison.axis, "seed")}
                found.append(Effect(comparison, key, other, where))
    return found


IMAGES = {Key.VALID_ACC: Key.VALID_IMAGES, Key.TEST_ACC: Key.TEST_IMAGES}  # how many images each metric is over


def step_of(results: Sequence[Mapping[str, Any]], metric: str) -> float:
    """The metric's step in points, 100/N for a split of N images, from a run's records; 0 where
    they do not say (recorded before se-sweep recorded N)."""
    images = next((r.get(IMAGES[Key(metric)]) for r in reversed(results) if r.get(IMAGES[Key(metric)])), None)
    return 100 / images if images and math.isfinite(images) else 0.0


def value_of(results: Sequence[Mapping[str, Any]], failed: bool, metric: str) -> float | None:
    """A finished run's value in points: its best valid accuracy over the epochs, or its final
    model's test accuracy; None if it diverged or failed (no value to pair)."""
    if failed or not results or results[-1].get(Key.DIVERGED):
        return None
    if metric == Key.VALID_ACC:
        value = max((r.get(Key.VALID_ACC, math.nan) for r in results), default=math.nan)
    else:
        value = results[-1].get(Key.TEST_ACC, math.nan)
    return None if value is None or not math.isfinite(value) else 100 * value


@dataclass
class Progress:
    """Where a sweep's effects stand: its cells and effects, its rule, each cell's finished runs
    (seed -> value, as `history` takes them), and so each effect's looks. The searcher fills it
    as trials finish; `status` fills it from the folder."""

    cells: dict[str, Mapping[str, Any]]  # cell key -> a config of the cell
    axes: list[str]
    effects: list[Effect]
    rule: Rule
    values: dict[str, dict[int, float | None]]  # cell key -> seed -> value
    steps: dict[str, float] = field(default_factory=dict)  # cell key -> its metric's step in points, where known

    @classmethod
    def of(cls, configs: Iterable[Mapping[str, Any]], axes: Sequence[str], seeds: Any, comparisons: Sequence[Comparison] = STUDY) -> Progress:
        """The effects among the cells of `configs` (a cell's configs over seeds count once), under
        a `seeds:` block (None: fixed n), with no run finished yet."""
        cells = {cell.key(c, axes): c for c in configs}
        effects = effects_of(list(cells.values()), axes, comparisons)
        rule = Rule.of(seeds, len(effects)) if seeds else Rule.fixed_n()
        return cls(cells, list(axes), effects, rule, {k: {} for k in cells})

    def record(self, config: Mapping[str, Any], results: Sequence[Mapping[str, Any]], failed: bool) -> None:
        """A finished run of `config` (its cell and seed) from its records: its value (None if it
        gave none) and its metric's step."""
        key = cell.key(config, self.axes)
        self.values[key][int(config["seed"])] = value_of(results, failed, self.rule.metric)
        self.steps[key] = max(self.steps.get(key, 0.0), step_of(results, self.rule.metric))

    def looks(self, effect: Effect) -> list[Look]:
        step = max(self.steps.get(effect.treated, 0.0), self.steps.get(effect.control, 0.0))
        return history(self.values.get(effect.treated, {}), self.values.get(effect.control, {}), self.rule.at_step(step))

    def state(self, effect: Effect) -> str:
        looks = self.looks(effect)
        return looks[-1].verdict if looks else Verdict.OPEN

    def grow(self, seeds: Any) -> None:
        """Continue under a `seeds:` block whose max was raised (anytime only: its intervals hold
        at every n, so looks past the old max cost no validity); the effects' share of α stays."""
        self.rule = Rule.of(seeds, len(self.effects))

    def lines(self) -> list[str]:
        """For the live view and `status`: each cell's finished seeds, then the effects still open."""
        names = cell.names(self.cells, self.axes)
        seeds = ", ".join(f"{names[k]} {len(v)}" for k, v in self.values.items())
        states = [self.state(e) for e in self.effects]
        counts = ", ".join(f"{states.count(v)} {v}" for v in Verdict if v != Verdict.OPEN and states.count(v))
        still = [e.label() for e, state in zip(self.effects, states) if state == Verdict.OPEN]
        return [f"seeds finished per cell: {seeds or 'none yet'}",
                f"effects: {len(self.effects)}" + (f" ({counts})" if counts else "") + "; open: " + ("; ".join(still) or "none")]
