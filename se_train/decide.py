"""The one effect engine: whether each effect of a sweep or a study is decided, at an error rate
stated in advance. Ray-free and below sweep and report: the searcher that adds seeds
(`sweep/seeds.py`), `status`, the live view, every report (one sweep with fixed or adaptive
seeds, a study of many) and `se-sweep bench decide` all run this code, so what the sweep decided
is what every report says.

An effect is a paired difference, treated − control in accuracy points, over the seeds both of its
cells ran (SE − no SE, SELU − ReLU, or any `compare:` on a grid axis, in cells that agree on every
other axis). Its interval is mean ± k(n)·sd, where n is the number of usable pairs, sd their
sample standard deviation and k(n) the method's factor (`Rule.factor`):

- `fixed-horizon` (adaptive seeds' default): repeated t-intervals for the planned looks
  start..max (Jennison & Turnbull, 1989), with a Wang–Tsiatis boundary between Pocock's and
  O'Brien–Fleming's (`SHAPE`) whose constant is set by Monte Carlo of Student t statistics so
  that the intervals of all looks hold the true mean together with probability 1 − α. The t statistic of
  normal differences centred on their true mean has the same law whatever σ and the mean are, so
  the boundary is exact for normal differences of unknown variance. The price: `max` is fixed
  once the sweep starts.
- `anytime`: the t-mixture confidence sequence (Lai 1976; Howard, Ramdas, McAuliffe & Sekhon,
  Ann. Stat. 2021), valid at every n however often it is looked at, so a sweep may grow past its
  `max`. For a candidate mean m, with S = Σ(d − m) and V = Σ(d − m)²,
  M_n(m) = sqrt(ρ / (n + ρ)) · (1 − S² / ((n + ρ) V)) ^ (−n/2) is a nonnegative martingale for
  normal differences of any variance; by Ville's inequality {m : M_n(m) < 1/α} holds the true mean
  at every n at once with probability ≥ 1 − α. `half_width` solves M_n(m) = 1/α.
- `fixed n` (a sweep whose grid lists its seeds): one Student t interval at 95% per effect over
  the seeds run, looked at once.

Verdicts (one set for every method): better / worse when the interval excludes 0; equivalent when
it lies inside ±margin; open while neither and more seeds may come; unresolved at max when none
will. Each method's intervals hold the true mean at every look together, so the three decided
verdicts are all read off the same intervals and share one error rate. Many effects: α =
1 − confidence is split evenly over a sweep's effects (Bonferroni), valid however the effects
depend on each other (they share cells).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri, stdtr, stdtrit  # normal and Student t; scipy.stats costs 0.5 s more to import

from se_train.trial_status import cell_name
from se_train.result import Key

# The anytime sequence's prior precision, measured (`se-sweep bench decide`, results/bench): at 4
# effects and 95%, ρ = 0.3 decides 67% of 1σ effects by 20 seeds against 61% at ρ = 0.1 (the value
# before), for 8.1 mean seeds at 2σ against 8.0; ρ = 1 reaches 70% but needs 8.9 seeds at 2σ and
# cannot decide before 6 seeds.
RHO = 0.3
# The fixed-horizon boundary's shape on the normal scale, c_n = C·(n/max)^(SHAPE − 1/2)
# (Wang & Tsiatis 1987): 0 is O'Brien–Fleming, 1/2 Pocock. Measured at 4 effects, seeds 3-20,
# 95% (results/bench): O'Brien–Fleming decides 92.7% of 1σ effects by 20 seeds but spends 10.3
# seeds on a 2σ one; Pocock 80.9% and 7.4; 1/4 decides 90.8% and spends 8.7: nearly the power
# of the first at nearly the cost of the second, so 1/4.
SHAPE = 0.25
BOUNDARY_SAMPLES = 400_000  # Monte Carlo paths per boundary: ~2 s once per process and rule
ANYTIME, FIXED_HORIZON, FIXED_N = "anytime", "fixed-horizon", "fixed n"
METHODS = (FIXED_HORIZON, ANYTIME)  # what a `seeds:` block may choose, its default first
VERDICTS = ("better", "worse", "equivalent", "open", "unresolved at max")
DECIDED = ("better", "worse", "equivalent")
FIXED_N_CONFIDENCE = 0.95  # a fixed-seed sweep's interval, per effect, as it always was
# The preview warns of looks wider than this, in units of the per-seed spread: an effect of
# 10 standard deviations is one no seeds are needed for.
USEFUL_WIDTH = 10.0


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


# --- the intervals ------------------------------------------------------------------------------

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


def _shape(n: np.ndarray | int, last: int, shape: float) -> np.ndarray:
    return (np.asarray(n, dtype=float) / last) ** (shape - 0.5)


@lru_cache(maxsize=64)
def boundary(start: int, last: int, alpha: float, shape: float = SHAPE) -> float:
    """C of the repeated t-intervals for looks at start..last pairs. Each look's t statistic T_n
    is put on the normal scale, z_n = Φ⁻¹(1 − p_n/2) with p_n its two-sided p-value, and the
    boundary is shaped there, c_n = C·(n/last)^(shape − 1/2): on the t scale itself three seeds'
    heavy tails would spend most of α at the first look. C makes P(z_n > c_n at some look) = α
    for normal differences, by Monte Carlo with a fixed seed, so every process (searcher, status,
    report) computes the same C, once each."""
    rng = np.random.default_rng(20171204)  # fixed: the same C everywhere, every time
    n = np.arange(1, last + 1, dtype=float)
    looks = slice(start - 1, last)
    worst = []
    for _ in range(BOUNDARY_SAMPLES // 50_000):
        x = rng.standard_normal((50_000, last))
        total, squares = np.cumsum(x, axis=1), np.cumsum(x * x, axis=1)
        mean = (total / n)[:, looks]
        k = n[looks]
        t = np.abs(mean) / np.sqrt((squares[:, looks] - k * mean**2) / (k - 1) / k)
        z = -ndtri(stdtr(k - 1, -t))  # the two-sided p-value's normal score
        worst.append(np.max(z / _shape(k, last, shape), axis=1))
    # Not the sample quantile but its upper 99% confidence bound (an order statistic, by the
    # normal approximation to the binomial): the Monte Carlo error then errs on the safe side, and
    # the error rate is at most α, not α give or take 2%.
    worst = np.sort(np.concatenate(worst))
    rank = (1 - alpha) * len(worst) + 2.33 * math.sqrt(len(worst) * alpha * (1 - alpha))
    return float(worst[min(int(math.ceil(rank)), len(worst) - 1)])


@dataclass(frozen=True)
class Rule:
    """How an effect is decided: its method, its planned looks (seeds start..max), the margin of
    equivalence (points; 0: none) and its share of the error (`alpha`, per effect)."""

    method: str
    start: int
    max: int
    margin: float
    alpha: float
    metric: str = Key.VALID_ACC.value
    rho: float = RHO  # anytime only
    shape: float = SHAPE  # fixed-horizon only; another only in `bench decide`

    @classmethod
    def of(cls, seeds: Any, effects: int) -> Rule:
        """A `seeds:` block's rule with `effects` effects sharing its error."""
        return cls(seeds.method, seeds.start, seeds.max, seeds.margin, (1 - seeds.confidence) / max(effects, 1), seeds.metric,
                   seeds.rho or RHO)

    @classmethod
    def fixed_n(cls) -> Rule:
        """A fixed-seed sweep's: the seeds it ran are all it gets."""
        return cls(FIXED_N, 2, 0, 0.0, 1 - FIXED_N_CONFIDENCE)

    @property
    def adaptive(self) -> bool:
        return self.method != FIXED_N

    def factor(self, n: int) -> float:
        """k(n): the interval after n usable pairs is mean ± k(n)·sd; inf while it is unbounded."""
        if n < 2:
            return math.inf
        if self.method == ANYTIME:
            return half_width(n, 1.0, self.alpha, self.rho)
        if self.method == FIXED_N:
            return float(stdtrit(n - 1, 1 - self.alpha / 2)) / math.sqrt(n)
        if n < self.start:  # a diverged pair can leave a look with fewer pairs than any the design planned
            return math.inf
        z = boundary(self.start, self.max, self.alpha, self.shape) * float(_shape(min(n, self.max), self.max, self.shape))
        return float(stdtrit(n - 1, ndtr(z))) / math.sqrt(n)  # the t quantile of the look's normal-scale boundary

    def first_decisive(self) -> int | None:
        """The first look (seeds) whose interval is bounded, so at which anything can be decided."""
        return next((n for n in range(max(self.start, 2), self.max + 1) if math.isfinite(self.factor(n))), None)

    def describe(self) -> str:
        """The method in a line, for tables: e.g. "fixed-horizon, seeds 3-20, 98.75% each"."""
        if self.method == FIXED_N:
            return f"fixed n, t-interval {1 - self.alpha:.0%}"
        return f"{self.method}, seeds {self.start}-{self.max}, {1 - self.alpha:.4g} each"


def verdict(low, high, margin: float, final):
    """The verdict of intervals [low, high] (numbers or arrays): better, worse, equivalent, else
    open, or unresolved at max where `final` (no more seeds will come)."""
    low, high = np.asarray(low), np.asarray(high)
    chosen = np.select(
        [low > 0, high < 0, (-margin < low) & (high < margin), np.asarray(final)],
        ["better", "worse", "equivalent", "unresolved at max"], "open")
    return str(chosen) if chosen.ndim == 0 else chosen


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


def look(diffs: Sequence[float], seeds: int, rule: Rule, final: bool | None = None) -> Look:
    """`final`: no more seeds will come (default: at the rule's max)."""
    d = np.asarray(diffs, dtype=float)
    n = len(d)
    mean = float(d.mean()) if n else math.nan
    factor = rule.factor(n)
    half = math.inf if math.isinf(factor) else factor * float(d.std(ddof=1))
    low, high = mean - half, mean + half
    return Look(seeds, n, mean, low, high, verdict(low, high, rule.margin, seeds >= rule.max if final is None else final))


def history(treated: Mapping[int, float | None], control: Mapping[int, float | None], rule: Rule) -> list[Look]:
    """The effect's looks. A seed maps to its run's value in points, to None if the run diverged or
    failed (its pair is left out, the seed still counts), or is absent while it has not finished.
    Adaptive: one look after each seed from `start` on, up to the first that decides it (or
    `max`), at k seeds over the pairs of seeds 0..k-1; looks stop at the first seed absent from
    either. Fixed n: one look over every seed both ran."""
    if not rule.adaptive:
        seeds = sorted(set(treated) & set(control))
        return [look([t - c for t, c in paired(treated, control, rule)], len(seeds), rule, final=True)] if seeds else []
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


def paired(treated: Mapping[int, float | None], control: Mapping[int, float | None], rule: Rule, seeds: int = 0) -> list[tuple[float, float]]:
    """The (treated, control) values the last look is over, as `history` takes them: fixed n,
    every seed both ran; adaptive, seeds 0..`seeds`-1 (the last look's). A pair with a diverged or
    failed run is left out."""
    chosen = range(seeds) if rule.adaptive else sorted(set(treated) & set(control))
    return [(treated[s], control[s]) for s in chosen if treated.get(s) is not None and control.get(s) is not None]


def probability_of_improvement(pairs: Sequence[tuple[float, float]]) -> float:
    """rliable's probability of improvement (Agarwal et al., NeurIPS 2021): the chance that a run of
    the treated cell beats one of the control, ties counting half (the Mann-Whitney U statistic
    over all their runs, divided by the number of pairs of runs). NaN without a pair."""
    if not pairs:
        return math.nan
    treated, control = [t for t, _ in pairs], [c for _, c in pairs]
    return sum((t > c) + 0.5 * (t == c) for t in treated for c in control) / (len(treated) * len(control))


def simulate(diffs: np.ndarray, rule: Rule) -> tuple[np.ndarray, np.ndarray]:
    """`history`'s verdict and seeds for many effects at once, each row of `diffs` (paths × max)
    one effect's per-seed differences with no pair left out: what `bench decide` and the power
    preview measure. Same factors and verdicts as `history` (tests/test_decide.py checks they agree)."""
    paths = len(diffs)
    n = np.arange(1, rule.max + 1, dtype=float)
    total, squares = np.cumsum(diffs, axis=1), np.cumsum(diffs * diffs, axis=1)
    mean = total / n
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.sqrt(np.maximum(squares - n * mean**2, 0) / (n - 1))
    verdicts = np.full(paths, "open", dtype=object)
    seeds = np.full(paths, rule.max)
    for k in range(rule.start, rule.max + 1):
        factor = rule.factor(k)
        half = np.full(paths, math.inf) if math.isinf(factor) else factor * sd[:, k - 1]
        now = verdict(mean[:, k - 1] - half, mean[:, k - 1] + half, rule.margin, k >= rule.max)
        fresh = (verdicts == "open") & (now != "open")
        verdicts[fresh], seeds[fresh] = now[fresh], k
    return verdicts.astype(str), seeds


# --- effects among cells ------------------------------------------------------------------------

@dataclass(frozen=True)
class Effect:
    comparison: Comparison
    treated: str  # cell keys (`cell_key`)
    control: str
    where: dict[str, Any]  # the other axes' values, e.g. {"model": "simple_cnn", "activation": "relu"}

    @property
    def name(self) -> str:
        return self.comparison.name

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


def effects_of(cells: Sequence[Mapping[str, Any]], axes: Sequence[str], comparisons: Sequence[Comparison] = STUDY) -> list[Effect]:
    """Every effect among `cells`: two cells that differ only in a comparison's axis, one at its
    treated value and one at its control."""
    keys = {cell_key(c, axes): c for c in cells}
    found = []
    for comparison in comparisons:
        for key, cell in keys.items():
            if comparison.axis not in axes or cell.get(comparison.axis) != comparison.treated:
                continue
            other = cell_key({**cell, comparison.axis: comparison.control}, axes)
            if other in keys:
                where = {a: cell.get(a) for a in axes if a not in (comparison.axis, "seed")}
                found.append(Effect(comparison, key, other, where))
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
    """Where a sweep's effects stand: its cells and effects, its rule, each cell's finished runs
    (seed -> value, as `history` takes them), and so each effect's looks. The searcher fills it
    as trials finish; `status` fills it from the folder."""

    cells: dict[str, Mapping[str, Any]]  # cell key -> a config of the cell
    axes: list[str]
    effects: list[Effect]
    rule: Rule
    values: dict[str, dict[int, float | None]]  # cell key -> seed -> value

    @classmethod
    def of(cls, configs: Iterable[Mapping[str, Any]], axes: Sequence[str], seeds: Any, comparisons: Sequence[Comparison] = STUDY) -> Progress:
        """The effects among the cells of `configs` (a cell's configs over seeds count once), under
        a `seeds:` block (None: fixed n), with no run finished yet."""
        cells = {cell_key(c, axes): c for c in configs}
        effects = effects_of(list(cells.values()), axes, comparisons)
        rule = Rule.of(seeds, len(effects)) if seeds else Rule.fixed_n()
        return cls(cells, list(axes), effects, rule, {k: {} for k in cells})

    def record(self, config: Mapping[str, Any], value: float | None) -> None:
        """A finished run of `config` (its cell and seed): its value, None if it gave none."""
        self.values[cell_key(config, self.axes)][int(config["seed"])] = value

    def looks(self, effect: Effect) -> list[Look]:
        return history(self.values.get(effect.treated, {}), self.values.get(effect.control, {}), self.rule)

    def state(self, effect: Effect) -> str:
        looks = self.looks(effect)
        return looks[-1].verdict if looks else "open"

    def grow(self, seeds: Any) -> None:
        """Continue under a `seeds:` block whose max was raised (anytime only: its intervals hold
        at every n, so looks past the old max cost no validity); the effects' share of α stays."""
        self.rule = Rule.of(seeds, len(self.effects))

    def lines(self) -> list[str]:
        """For the live view and `status`: each cell's finished seeds, then the effects still open."""
        names = cell_names(self.cells, self.axes)
        seeds = ", ".join(f"{names[k]} {len(v)}" for k, v in self.values.items())
        states = [self.state(e) for e in self.effects]
        counts = ", ".join(f"{states.count(v)} {v}" for v in VERDICTS if v != "open" and states.count(v))
        still = [e.label() for e, state in zip(self.effects, states) if state == "open"]
        return [f"seeds finished per cell: {seeds or 'none yet'}",
                f"effects: {len(self.effects)}" + (f" ({counts})" if counts else "") + "; open: " + ("; ".join(still) or "none")]


# --- the method, said -----------------------------------------------------------------------------

INTERVALS = {
    FIXED_HORIZON: "repeated t-intervals for the planned looks at {start}..{max} seeds (Jennison & Turnbull 1989), each "
                   "look's t statistic on the normal scale against a Wang–Tsiatis boundary C·(n/{max})^({exponent:g}), C = {c:.3f} "
                   "set by Monte Carlo of Student t statistics "
                   "so that the intervals of every look hold the true mean together: exact for normal differences of any "
                   "variance, for these planned looks (max is fixed once the sweep starts)",
    ANYTIME: "an anytime-valid t-mixture confidence sequence (Lai 1976; Howard et al., Ann. Stat. 2021; mixture precision "
             "ρ = {rho}): it holds the true mean at every number of seeds at once, so a sweep may look after every seed and "
             "grow past its max without inflating its error rate",
}
ADAPTIVE_METHOD = (
    "Each effect is the paired difference (treated − control, in points of {metric}) over the seeds both of its cells ran. "
    "Its interval is {intervals}. The {confidence:.0%} confidence is split evenly over the sweep's {k} effect(s) (Bonferroni: "
    "each interval at {each:.4g}% error), so every verdict holds together with probability ≥ {confidence:.0%}. Verdicts: better "
    "/ worse when the interval excludes 0; equivalent when it lies inside ±{margin} points (no practical difference), "
    "valid by the same intervals; open while neither, and the effect's two cells then ran the next seed, the same seed number "
    "in both; unresolved at max when {max} seeds left it open. A pair with a diverged or failed run is left out. Every cell "
    "first ran seeds 0..{last_start}."
)
FIXED_METHOD = (
    "Effects marked fixed n ran the seeds their grid listed: each is the paired difference in best valid accuracy over the "
    "seeds both cells ran, with a Student t interval at 95% per effect (no correction for many effects), looked at once. "
    "Better / worse when it excludes 0; unresolved at max otherwise; one seed has no interval."
)


def method_text(rule: Rule, effects: int, confidence: float) -> str:
    """A rule's paragraph for a report."""
    if not rule.adaptive:
        return FIXED_METHOD
    intervals = INTERVALS[rule.method].format(start=rule.start, max=rule.max, rho=rule.rho, exponent=rule.shape - 0.5,
                                              c=boundary(rule.start, rule.max, rule.alpha, rule.shape) if rule.method == FIXED_HORIZON else 0)
    return ADAPTIVE_METHOD.format(metric=rule.metric.replace("_", " "), intervals=intervals, confidence=confidence, k=effects,
                                  each=100 * rule.alpha, margin=rule.margin, max=rule.max, last_start=rule.start - 1)


def power(rule: Rule, probability: float = 0.8, paths: int = 4000) -> float:
    """The smallest effect, in units of the per-seed spread σ, that `rule` calls better by its max
    with `probability`, for normal differences (by simulation, common random numbers)."""
    noise = np.random.default_rng(0).standard_normal((paths, rule.max))
    low, high = 0.0, 8.0
    for _ in range(16):
        mid = (low + high) / 2
        verdicts, _ = simulate(mid + noise, rule)
        low, high = (low, mid) if (verdicts == "better").mean() >= probability else (mid, high)
    return high


def preview(rule: Rule, effects: int, spread: float | None = None) -> list[str]:
    """`--dry-run`'s power preview of a `seeds:` block with `effects` effects: how wide each look's
    interval is, the effect decided by max in 80% of sweeps, the smallest margin max can prove.
    `spread`: the per-seed standard deviation of a difference, in points, to say it in points."""
    first = rule.first_decisive()
    detect = power(rule)
    narrowest = rule.factor(rule.max)  # the half-width at max, in σ: equivalence needs margin beyond it
    points = (lambda x: f" = {x * spread:.2f} points at a spread of {spread} points") if spread else (lambda x: "")
    looks = sorted({rule.start, rule.start + 1, rule.start + 2, (rule.start + rule.max) // 2, rule.max} & set(range(rule.start, rule.max + 1)))
    widths = ", ".join(f"{n}: {rule.factor(n):.3g}" for n in looks)
    lines = [
        f"power ({rule.method}, {effects} effect(s), {1 - rule.alpha:.4g} each): "
        + (f"the first look that can decide anything is at {first} seeds" if first else f"no look up to {rule.max} seeds can decide anything"),
        f"  the interval's half-width in σ (the per-seed spread of a difference) after n seeds, n: half-width: {widths}",
        f"  an effect of {detect:.2f}σ is called better by {rule.max} seeds in 80% of sweeps{points(detect)}",
        f"  equivalence within ±margin needs margin above ~{narrowest:.2f}σ at {rule.max} seeds{points(narrowest)}",
    ]
    useful = next((n for n in range(rule.start, rule.max + 1) if rule.factor(n) <= USEFUL_WIDTH), None)
    if useful != rule.start:
        lines.append(f"warning: the looks before {useful or rule.max} seeds decide only effects beyond {USEFUL_WIDTH:g}σ; "
                     "start there, or raise max" + (", or use method: anytime" if rule.method == FIXED_HORIZON else ""))
    if spread and rule.margin <= narrowest * spread:
        lines.append(f"warning: margin {rule.margin} points is below what {rule.max} seeds can prove (~{narrowest * spread:.2f} points): "
                     "no effect can be called equivalent; raise margin or max")
    return lines
