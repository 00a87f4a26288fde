"""The one effect engine: whether each effect of a sweep or a study is decided, at an error rate
stated in advance. Ray-free and below sweep and report: the searcher that adds seeds
(`sweep/seeds.py`), `status`, the live view, every report (one sweep with fixed or adaptive
seeds, a study of many) and `se-sweep bench decide` all run this code, so what the sweep decided
is what every report says.

An effect is a paired difference, treated − control in accuracy points, over the seeds both of its
cells ran (SE − no SE, SELU − ReLU, or any `compare:` on a grid axis, in cells that agree on every
other axis). Its interval is mean ± k(n)·sd, where n is the number of usable pairs, sd their
sample standard deviation and k(n) the method's factor (`Rule.factor`), except for the default:

- `sign-flip` (adaptive seeds' default): group-sequential sign-flip intervals (`sign_flip.py`):
  each look's interval inverts Fisher's one-sample randomisation test, exact for any distribution
  of differences symmetric about its mean, with no variance to estimate, so coarse accuracy
  (steps of 100/N points), ties and short tails cost it nothing. The looks spend α along the
  fixed-horizon boundary below, each at the two-sided level its normal-scale bound gives
  (Xu, Mütze, Konietschke & Friede, arXiv 2404.12483, 2024: group-sequential boundaries with
  permutation p-values). A look with too few seeds to reach its level is not taken, and the
  boundary is set for the looks that remain.
- `fixed-horizon`: repeated t-intervals for the planned looks
  start..max (Jennison & Turnbull, 1989), with a Wang–Tsiatis boundary between Pocock's and
  O'Brien–Fleming's (`SHAPE`) whose constant is set by Monte Carlo of Student t statistics so
  that the intervals of all looks hold the true mean together with probability 1 − α. The t statistic of
  normal differences centred on their true mean has the same law whatever σ and the mean are, so
  the boundary is exact for normal differences of unknown variance, and only for them: on bounded,
  short-tailed accuracy differences its far tails spend more than their share (results/bench).
  The price of both: `max` is fixed once the sweep starts.
- `anytime`: the t-mixture confidence sequence (Lai 1976; Howard, Ramdas, McAuliffe & Sekhon,
  Ann. Stat. 2021), valid at every n however often it is looked at, so a sweep may grow past its
  `max`. For a candidate mean m, with S = Σ(d − m) and V = Σ(d − m)²,
  M_n(m) = sqrt(ρ / (n + ρ)) · (1 − S² / ((n + ρ) V)) ^ (−n/2) is a nonnegative martingale for
  normal differences of any variance; by Ville's inequality {m : M_n(m) < 1/α} holds the true mean
  at every n at once with probability ≥ 1 − α. `half_width` solves M_n(m) = 1/α.
- `fixed n` (a sweep whose grid lists its seeds): one Student t interval at 95% per effect over
  the seeds run, looked at once.

The metric's step: accuracy on N images moves in steps of s = 100/N points, so a run of equal
differences is a tie, not a spread of zero. The t-based methods floor the sd at s/2 and the
sign-flip interval is widened by s/2 at each end: no interval is zero-width where s is known.

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
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri, stdtr, stdtrit  # normal and Student t; scipy.stats costs 0.5 s more to import

from se_train import sign_flip
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
SIGN_FLIP, ANYTIME, FIXED_HORIZON, FIXED_N = "sign-flip", "anytime", "fixed-horizon", "fixed n"
METHODS = (SIGN_FLIP, FIXED_HORIZON, ANYTIME)  # what a `seeds:` block may choose, its default first
# "unresolved at max": an adaptive sweep's effect that max seeds left open; "inconclusive": a grid
# that listed its seeds, which has no max and no more to come
VERDICTS = ("better", "worse", "equivalent", "open", "unresolved at max", "inconclusive")
FIXED_N_CONFIDENCE = 0.95  # a fixed-seed sweep's interval, per effect, as it always was


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
    shape: float = SHAPE  # sign-flip and fixed-horizon; another only in `bench decide`
    step: float = 0.0  # the metric's step in points (100/N), set per effect (`at_step`); 0: unknown or continuous

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

    def at_step(self, step: float) -> Rule:
        """This rule for an effect whose metric moves in steps of `step` points."""
        return replace(self, step=step)

    @property
    def looks_from(self) -> int:
        """The first look taken. Sign-flip: the first at which its level is reachable at all (a look
        before it could decide nothing, so it spends no α); else `start`."""
        return _sign_flip_start(self.start, self.max, self.alpha, self.shape) if self.method == SIGN_FLIP else self.start

    def level(self, n: int) -> float:
        """Sign-flip: the two-sided error of the interval after n usable pairs, 2(1 − Φ(c_n)) on the
        Wang–Tsiatis boundary for the looks taken; 0 (no interval) before them."""
        if n < self.looks_from:
            return 0.0
        return 2 * float(ndtr(-_normal_bound(self.looks_from, self.max, self.alpha, self.shape, n)))

    def interval(self, diffs: Sequence[float]) -> tuple[float, float]:
        """The interval after the usable differences `diffs` (points), never zero-width where the
        step is known (see the module's docstring)."""
        d = np.asarray(diffs, dtype=float)
        if len(d) == 0:
            return math.nan, math.nan
        mean = float(d.mean())
        if self.method == SIGN_FLIP:
            low, high = sign_flip.interval(d, self.level(len(d)))
            return low - self.step / 2, high + self.step / 2
        factor = self.factor(len(d))
        half = math.inf if math.isinf(factor) else factor * max(float(d.std(ddof=1)), self.step / 2)
        return mean - half, mean + half

    def factor(self, n: int) -> float:
        """k(n) of the t-based methods: their interval after n usable pairs is mean ± k(n)·sd; inf
        while it is unbounded."""
        if n < 2:
            return math.inf
        if self.method == ANYTIME:
            return half_width(n, 1.0, self.alpha, self.rho)
        if self.method == FIXED_N:
            return float(stdtrit(n - 1, 1 - self.alpha / 2)) / math.sqrt(n)
        if n < self.start:  # a diverged pair can leave a look with fewer pairs than any the design planned
            return math.inf
        z = _normal_bound(self.start, self.max, self.alpha, self.shape, n)
        return float(stdtrit(n - 1, ndtr(z))) / math.sqrt(n)  # the t quantile of the look's normal-scale boundary

    def first_decisive(self) -> int | None:
        """The first look (seeds) whose interval is bounded, so at which anything can be decided."""
        if self.method == SIGN_FLIP:
            return self.looks_from if self.looks_from <= self.max else None
        return next((n for n in range(max(self.start, 2), self.max + 1) if math.isfinite(self.factor(n))), None)

    def describe(self) -> str:
        """The method in a line, for tables: e.g. "sign-flip, seeds 3-20, 0.9875 each"."""
        if self.method == FIXED_N:
            return f"fixed n, t-interval {1 - self.alpha:.0%}"
        return f"{self.method}, seeds {self.start}-{self.max}, {1 - self.alpha:.4g} each"


def _normal_bound(start: int, last: int, alpha: float, shape: float, n: int) -> float:
    """c_n = C·(n/last)^(shape − 1/2): look n's bound on the normal scale."""
    return boundary(start, last, alpha, shape) * float(_shape(min(n, last), last, shape))


@lru_cache(maxsize=64)
def _sign_flip_start(start: int, last: int, alpha: float, shape: float) -> int:
    """The first look at which a sign-flip interval can be bounded: under the boundary for looks
    start..last, the first n whose level leaves one subset mean beyond each end. The boundary is
    then set again for looks from there (fewer looks: a lower bound, so that look stays
    reachable). last + 1 where no look up to `last` is."""
    return next((n for n in range(max(start, 2), last + 1)
                 if sign_flip.extremes(n, 2 * float(ndtr(-_normal_bound(start, last, alpha, shape, n)))) > 0), last + 1)


def verdict(low, high, margin: float, final):
    """The verdict of intervals [low, high] (numbers or arrays): better, worse, equivalent, else
    open, or unresolved at max where `final` (no more seeds will come)."""
    low, high = np.asarray(low), np.asarray(high)
    return _verdicts(low > 0, high < 0, (-margin < low) & (high < margin), final)


def _verdicts(better, worse, equivalent, final):
    chosen = np.select([better, worse, equivalent, np.broadcast_to(final, np.shape(better))],
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
    mean = float(np.mean(diffs)) if len(diffs) else math.nan
    low, high = rule.interval(diffs)
    said = verdict(low, high, rule.margin, seeds >= rule.max if final is None else final)
    return Look(seeds, len(diffs), mean, low, high, "inconclusive" if said == "unresolved at max" and not rule.adaptive else said)


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
        if seed + 1 >= rule.looks_from or seed + 1 == rule.max:
            looks.append(look(diffs, seed + 1, rule))
            if looks[-1].verdict != "open":
                break
    return looks


def paired_seeds(treated: Mapping[int, float | None], control: Mapping[int, float | None], rule: Rule, seeds: int = 0) -> list[int]:
    """The seeds the last look is over, as `history` takes them: fixed n, every seed both ran;
    adaptive, seeds 0..`seeds`-1 (the last look's). A pair with a diverged or failed run is left out."""
    chosen = range(seeds) if rule.adaptive else sorted(set(treated) & set(control))
    return [s for s in chosen if treated.get(s) is not None and control.get(s) is not None]


def paired(treated: Mapping[int, float | None], control: Mapping[int, float | None], rule: Rule, seeds: int = 0) -> list[tuple[float, float]]:
    """The (treated, control) values of `paired_seeds`."""
    return [(treated[s], control[s]) for s in paired_seeds(treated, control, rule, seeds)]


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
    preview measure. Same intervals and verdicts as `history` (tests/test_decide.py checks they
    agree); sign-flip decides by counting subsets (`sign_flip.count_at_most`), not by sorting 2^n
    means per path."""
    paths = len(diffs)
    n = np.arange(1, rule.max + 1, dtype=float)
    total, squares = np.cumsum(diffs, axis=1), np.cumsum(diffs * diffs, axis=1)
    mean = total / n
    with np.errstate(divide="ignore", invalid="ignore"):
        sd = np.maximum(np.sqrt(np.maximum(squares - n * mean**2, 0) / (n - 1)), rule.step / 2)
    verdicts = np.full(paths, "open", dtype=object)
    seeds = np.full(paths, rule.max)
    for k in range(min(rule.looks_from, rule.max), rule.max + 1):
        still = np.flatnonzero(verdicts == "open")
        if rule.method == SIGN_FLIP:
            now = _sign_flip_verdicts(diffs[still, :k], rule, k >= rule.max)
        else:
            factor = rule.factor(k)
            half = np.full(len(still), math.inf) if math.isinf(factor) else factor * sd[still, k - 1]
            now = verdict(mean[still, k - 1] - half, mean[still, k - 1] + half, rule.margin, k >= rule.max)
        fresh = still[now != "open"]
        verdicts[fresh], seeds[fresh] = now[now != "open"], k
    return verdicts.astype(str), seeds


def _sign_flip_verdicts(d: np.ndarray, rule: Rule, final: bool) -> np.ndarray:
    """Each row's verdict under the sign-flip interval at its look (`Rule.interval`), by counts:
    its j-th smallest subset mean is above m exactly when at most j subsets of d − m (the empty
    one included) sum to ≤ 0, and its j-th largest is below −m when at most j of −d − m do."""
    n = d.shape[1]
    j = sign_flip.extremes(n, rule.level(n))
    if j and n > sign_flip.EXACT_UP_TO:
        raise ValueError(f"simulate: sign-flip looks beyond {sign_flip.EXACT_UP_TO} seeds draw their subsets; simulate up to that")
    never = np.zeros(len(d), dtype=bool)

    def beyond(x: np.ndarray, m: float) -> np.ndarray:  # the interval's end on x's side is beyond m (widened by s/2)
        return sign_flip.count_at_most(x - m - rule.step / 2) <= j if j else never

    inside = beyond(d, -rule.margin) & beyond(-d, -rule.margin) if rule.margin > 0 else never
    return _verdicts(beyond(d, 0.0), beyond(-d, 0.0), inside, final)


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
        cells = {cell_key(c, axes): c for c in configs}
        effects = effects_of(list(cells.values()), axes, comparisons)
        rule = Rule.of(seeds, len(effects)) if seeds else Rule.fixed_n()
        return cls(cells, list(axes), effects, rule, {k: {} for k in cells})

    def record(self, config: Mapping[str, Any], results: Sequence[Mapping[str, Any]], failed: bool) -> None:
        """A finished run of `config` (its cell and seed) from its records: its value (None if it
        gave none) and its metric's step."""
        key = cell_key(config, self.axes)
        self.values[key][int(config["seed"])] = value_of(results, failed, self.rule.metric)
        self.steps[key] = max(self.steps.get(key, 0.0), step_of(results, self.rule.metric))

    def looks(self, effect: Effect) -> list[Look]:
        step = max(self.steps.get(effect.treated, 0.0), self.steps.get(effect.control, 0.0))
        return history(self.values.get(effect.treated, {}), self.values.get(effect.control, {}), self.rule.at_step(step))

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
    SIGN_FLIP: "a group-sequential sign-flip interval for the planned looks at {looks_from}..{max} seeds: each look's "
               "interval inverts Fisher's one-sample randomisation test (the subset means of the differences, Hartigan 1969), "
               "exact for any distribution of differences symmetric about its mean, with no normality and no variance to "
               "estimate; the looks spend the error along a Wang–Tsiatis boundary C·(n/{max})^({exponent:g}), C = {c:.3f} "
               "(Xu, Mütze, Konietschke & Friede 2024), and looks before {looks_from} seeds, which could not reach their "
               "level, are not taken. Each end is widened by half the metric's step (100/N points for N images), so ties "
               "never give a zero-width interval. The error across looks is that of the normal boundary, measured at or "
               "below it on real and simulated accuracy data (results/bench/decide.md); max is fixed once the sweep starts",
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
    "Better / worse when it excludes 0; inconclusive otherwise; one seed has no interval."
)


def method_text(rule: Rule, effects: int, confidence: float) -> str:
    """A rule's paragraph for a report."""
    if not rule.adaptive:
        return FIXED_METHOD
    c = boundary(rule.looks_from, rule.max, rule.alpha, rule.shape) if rule.method != ANYTIME and rule.looks_from <= rule.max else math.inf
    intervals = INTERVALS[rule.method].format(start=rule.start, looks_from=rule.looks_from, max=rule.max, rho=rule.rho,
                                              exponent=rule.shape - 0.5, c=c)
    return ADAPTIVE_METHOD.format(metric=rule.metric.replace("_", " "), intervals=intervals, confidence=confidence, k=effects,
                                  each=100 * rule.alpha, margin=rule.margin, max=rule.max, last_start=min(rule.looks_from, rule.max) - 1)


PREVIEW_EFFECTS = (0.5, 1.0, 2.0, 3.0)  # in σ, the per-seed spread of a difference


def outlook(rule: Rule, effect: float, paths: int = 2000) -> tuple[float, float]:
    """For an effect of `effect` σ with normal differences (by simulation, a fixed seed): the median
    seeds to a verdict (inf when most sweeps reach none) and the chance of the right one by max."""
    verdicts, seeds = simulate(effect + np.random.default_rng(0).standard_normal((paths, rule.max)), rule)
    right = verdicts == ("better" if effect > 0 else "equivalent")
    decided = np.isin(verdicts, ("better", "worse", "equivalent"))
    return float(np.median(np.where(decided, seeds, math.inf))), float(right.mean())


def preview(rule: Rule, effects: int, spread: float | None = None) -> list[str]:
    """`--dry-run`'s power preview of a `seeds:` block with `effects` effects: from which seed a
    verdict is possible, then for effects of a few sizes the median seeds to a verdict and the
    chance of one by max, under the sweep's own method. `spread`: the per-seed standard deviation
    of a difference, in points, to say sizes in points and to preview equivalence (the margin is
    in points)."""
    first = rule.first_decisive()
    lines = [f"power ({rule.method}, {effects} effect(s), {1 - rule.alpha:.4g} each): "
             + (f"a verdict is possible from {first} seeds" if first else f"no look up to {rule.max} seeds can decide anything")]
    if first is None:
        return lines + ["warning: raise max, lower confidence or compare fewer effects"]
    if rule.method == SIGN_FLIP and rule.max > sign_flip.EXACT_UP_TO:  # beyond, each look draws 2^18 subsets: too slow to simulate here
        return lines + [f"  (the table of seeds per effect size is simulated for sweeps of up to {sign_flip.EXACT_UP_TO} seeds)"]
    unit = spread or 1.0
    scaled = replace(rule, margin=rule.margin / unit if spread else 0.0, step=0.0)
    lines.append(f"  effect ({'points' if spread else 'σ, the per-seed spread of a difference; --spread says it in points'}) | "
                 f"median seeds to a verdict | chance of one by {rule.max} seeds")
    for size in PREVIEW_EFFECTS:
        median, chance = outlook(scaled, size)
        lines.append(f"  {size * unit:.3g} | {median:.0f} | {chance:.0%}" if math.isfinite(median) else f"  {size * unit:.3g} | > {rule.max} | {chance:.0%}")
    if spread:
        median, chance = outlook(scaled, 0.0)
        lines.append(f"  0 (within ±{rule.margin}: equivalent) | " + (f"{median:.0f}" if math.isfinite(median) else f"> {rule.max}") + f" | {chance:.0%}")
        if chance < 0.05:
            lines.append(f"warning: margin {rule.margin} points is too narrow for {rule.max} seeds at a spread of {spread} points: "
                         "an effect is almost never called equivalent; raise margin or max")
    return lines
