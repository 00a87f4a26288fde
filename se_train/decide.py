"""Decisive answers over seeds (a sweep's `seeds:` block): whether each SE and SELU effect is
decided yet, at an error rate that holds however often it is looked at. Ray-free and below sweep
and report: the searcher that adds seeds (`sweep/seeds.py`), `status`, the report and
`se-sweep bench decide` all run this code, so what the sweep decided is what the report says.

An effect is a paired difference, treated − control in accuracy points, over the seeds both of
its cells ran (SE − no SE, SELU − ReLU, in cells that agree on everything else). Its interval is
the t-mixture confidence sequence (Lai 1976; Howard, Ramdas, McAuliffe & Sekhon, Ann. Stat. 2021):
for a candidate mean m, with S = Σ(d − m) and V = Σ(d − m)² over the n differences,

    M_n(m) = sqrt(ρ / (n + ρ)) · (1 − S² / ((n + ρ) V)) ^ (−n/2)

is the likelihood ratio of the differences' scale-free shape under a N(0, 1/ρ) prior on the
effect in units of σ against no effect; it is a nonnegative martingale for normal differences of
any variance, so by Ville's inequality {m : M_n(m) < 1/α} holds the true mean at every n at once
with probability ≥ 1 − α. Looking after every seed, and stopping when the answer is clear, costs
nothing. Solving M_n(m) = 1/α for m gives the closed form in `half_width`.

Many effects: α = 1 − confidence is split evenly over a sweep's effects (Bonferroni), valid
however the effects depend on each other (they share cells), so every verdict of a sweep holds
together with probability ≥ confidence.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from se_train.trial_status import cell_name
from se_train.result import Key

# The prior's precision. At ρ = 0.1 the half-width is within 2% of the narrowest any ρ gives at
# 4-5 seeds and within 13% up to 20, and finite from 3 seeds (one effect at α = 0.05); ρ = 1 is
# 10% narrower at 20 seeds but 56% wider at 5 and unbounded below: early looks are where large
# effects stop (`half_width`, α = 0.05).
RHO = 0.1
EFFECTS = {  # effect name: (axis, treatment, control)
    "SE - no SE": ("se", True, False),
    "SELU - ReLU": ("activation", "selu", "relu"),
}
VERDICTS = ("better", "worse", "equivalent", "open", "unresolved at max")
DECIDED = ("better", "worse", "equivalent")
METHOD = (
    "Each effect is the paired difference (treated − control, in points of {metric}) over the seeds both of its cells ran. "
    "Its interval is an anytime-valid t-mixture confidence sequence (Lai 1976; Howard et al., Ann. Stat. 2021; mixture "
    "precision ρ = {rho}): it holds the true mean at every number of seeds at once, so the sweep looked after every seed and "
    "stopped each effect as soon as it was decided, without inflating its error rate. The {confidence:.0%} confidence is split "
    "evenly over the sweep's {k} effect(s) (Bonferroni: each interval at {each:.4g}% error), so every verdict holds together "
    "with probability ≥ {confidence:.0%}. Verdicts: better / worse when the interval excludes 0; equivalent when it lies "
    "inside ±{margin} points (no practical difference); open while neither, and the effect's two cells then ran the next "
    "seed, the same seed number in both; unresolved at max when {max} seeds left it open. A pair with a diverged or failed "
    "run is left out. Every cell first ran seeds 0..{last_start}."
)


def half_width(n: int, sd: float, alpha: float, rho: float = RHO) -> float:
    """Half-width of the t-mixture sequence's interval after n differences of sample standard
    deviation `sd`. With d = mean − m, S = n d and V = (n − 1) sd² + n d², M_n(m) < 1/α is
    d² (n² − a n) < a (n − 1) sd², where a = (n + ρ)(1 − q) and q = (sqrt((n + ρ)/ρ) / α)^(−2/n);
    no bound (inf) while n² ≤ a n, when too few seeds can rule nothing out."""
    if n < 2:
        return math.inf
    q = (math.sqrt((n + rho) / rho) / alpha) ** (-2 / n)
    a = (n + rho) * (1 - q)
    if n * n <= a * n:
        return math.inf
    return sd * math.sqrt(a * (n - 1) / (n * n - a * n))


@dataclass(frozen=True)
class Rule:
    """A `seeds:` block with its share of the error: `alpha` is per effect."""

    start: int
    max: int
    margin: float
    alpha: float

    @classmethod
    def of(cls, seeds: Any, effects: int) -> Rule:
        return cls(seeds.start, seeds.max, seeds.margin, (1 - seeds.confidence) / max(effects, 1))


@dataclass(frozen=True)
class Look:
    """An effect after its cells' first `seeds` seeds: `n` usable pairs, their mean difference,
    the interval and the verdict then."""

    seeds: int
    n: int
    mean: float
    low: float
    high: float
    verdict: str


def look(diffs: Sequence[float], seeds: int, rule: Rule) -> Look:
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    mean = float(d.mean()) if n else math.nan
    half = half_width(n, float(d.std(ddof=1)) if n > 1 else math.nan, rule.alpha)
    low, high = mean - half, mean + half
    if low > 0:
        verdict = "better"
    elif high < 0:
        verdict = "worse"
    elif -rule.margin < low and high < rule.margin:
        verdict = "equivalent"
    else:
        verdict = "unresolved at max" if seeds >= rule.max else "open"
    return Look(seeds, n, mean, low, high, verdict)


def history(treated: Mapping[int, float | None], control: Mapping[int, float | None], rule: Rule) -> list[Look]:
    """The effect's looks, one after each seed from `start` on, up to the first that decides it
    (or `max`): at k seeds, the pairs of seeds 0..k-1 both of whose runs gave a value. A seed
    maps to its run's value in points, to None if the run diverged or failed (its pair is left
    out), or is absent while it has not finished; looks stop at the first seed absent from either."""
    looks, diffs = [], []
    for seed in range(rule.max):
        if seed not in treated or seed not in control:
            break
        if treated[seed] is not None and control[seed] is not None:
            diffs.append(treated[seed] - control[seed])
        if seed + 1 >= rule.start:
            looks.append(look(diffs, seed + 1, rule))
            if looks[-1].verdict != "open":
                break
    return looks


@dataclass(frozen=True)
class Effect:
    name: str
    treated: str  # cell keys (`cell_key`)
    control: str
    where: dict[str, Any]  # the other axes' values, e.g. {"model": "simple_cnn", "activation": "relu"}

    def label(self) -> str:
        return f"{self.name}, " + ", ".join(f"{k}={v}" for k, v in self.where.items())


def cell_key(config: Mapping[str, Any], axes: Sequence[str]) -> str:
    """A cell's identity: its value on every grid axis but the seed."""
    return json.dumps({a: config.get(a) for a in axes if a != "seed"}, sort_keys=True, default=str)


def cell_names(cells: Mapping[str, Mapping[str, Any]], axes: Sequence[str]) -> dict[str, str]:
    """Each cell's short name (by `cell_key`): model, dataset, activation, SE, then any other
    axis on which the cells differ, e.g. "simple_cnn digits relu SE lr=1e-07"."""
    varied = [a for a in axes if a not in ("model", "dataset", "activation", "se", "seed")
              and len({json.dumps(c.get(a), default=str) for c in cells.values()}) > 1]
    return {k: " ".join([cell_name(c, seed=False), *(f"{a}={c.get(a)}" for a in varied)]) for k, c in cells.items()}


def effects_of(cells: Sequence[Mapping[str, Any]], axes: Sequence[str]) -> list[Effect]:
    """Every effect among `cells`: two cells that differ only in an effect's axis, one at its
    treatment and one at its control."""
    keys = {cell_key(c, axes): c for c in cells}
    found = []
    for name, (axis, treated, control) in EFFECTS.items():
        for key, cell in keys.items():
            if cell.get(axis) != treated:
                continue
            other = cell_key({**cell, axis: control}, axes)
            if other in keys:
                where = {a: cell.get(a) for a in axes if a not in (axis, "seed")}
                found.append(Effect(name, key, other, where))
    return found


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
    """Where an adaptive sweep stands: its cells and effects, each cell's finished runs (seed ->
    value, as `history` takes them), and so each effect's looks. The searcher fills it as trials
    finish; `status` and the report fill it from the folder."""

    cells: dict[str, Mapping[str, Any]]  # cell key -> a config of the cell
    axes: list[str]
    effects: list[Effect]
    rule: Rule
    values: dict[str, dict[int, float | None]]  # cell key -> seed -> value

    @classmethod
    def of(cls, configs: Iterable[Mapping[str, Any]], axes: Sequence[str], seeds: Any) -> Progress:
        """The effects among the cells of `configs` (a cell's configs over seeds count once), under
        a `seeds:` block, with no run finished yet."""
        cells = {cell_key(c, axes): c for c in configs}
        effects = effects_of(list(cells.values()), axes)
        return cls(cells, list(axes), effects, Rule.of(seeds, len(effects)), {k: {} for k in cells})

    def record(self, config: Mapping[str, Any], value: float | None) -> None:
        """A finished run of `config` (its cell and seed): its value, None if it gave none."""
        self.values[cell_key(config, self.axes)][int(config["seed"])] = value

    def looks(self, effect: Effect) -> list[Look]:
        return history(self.values.get(effect.treated, {}), self.values.get(effect.control, {}), self.rule)

    def state(self, effect: Effect) -> str:
        looks = self.looks(effect)
        return looks[-1].verdict if looks else "open"

    def lines(self) -> list[str]:
        """For the live view and `status`: each cell's finished seeds, then the effects still open."""
        names = cell_names(self.cells, self.axes)
        seeds = ", ".join(f"{names[k]} {len(v)}" for k, v in self.values.items())
        states = [self.state(e) for e in self.effects]
        counts = ", ".join(f"{states.count(v)} {v}" for v in VERDICTS if v != "open" and states.count(v))
        still = [e.label() for e, state in zip(self.effects, states) if state == "open"]
        return [f"seeds finished per cell: {seeds or 'none yet'}",
                f"effects: {len(self.effects)}" + (f" ({counts})" if counts else "") + "; open: " + ("; ".join(still) or "none")]
