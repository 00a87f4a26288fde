"""The decision rule of a sweep's effects (`Rule`): each method's interval and how it spends the
error over the looks, so that every look's interval holds the true mean together at the stated
rate. Ray-free, below the engine (`decide.py`), which reads verdicts off these intervals.

An effect's interval is mean ± k(n)·sd, where n is the number of usable pairs, sd their sample
standard deviation and k(n) the method's factor (`Rule.factor`), except for the default:

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
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any

import numpy as np
from scipy.special import ndtr, ndtri, stdtr, stdtrit  # normal and Student t; scipy.stats costs 0.5 s more to import

from se_train import sign_flip
from se_train.result import Key, Method

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
FIXED_N_CONFIDENCE = 0.95  # a fixed-seed sweep's interval, per effect, as it always was


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
        return cls(Method.FIXED_N, 2, 0, 0.0, 1 - FIXED_N_CONFIDENCE)

    @property
    def adaptive(self) -> bool:
        return self.method != Method.FIXED_N

    def at_step(self, step: float) -> Rule:
        """This rule for an effect whose metric moves in steps of `step` points."""
        return replace(self, step=step)

    @property
    def looks_from(self) -> int:
        """The first look taken. Sign-flip: the first at which its level is reachable at all (a look
        before it could decide nothing, so it spends no α); else `start`."""
        return _sign_flip_start(self.start, self.max, self.alpha, self.shape) if self.method == Method.SIGN_FLIP else self.start

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
        if self.method == Method.SIGN_FLIP:
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
        if self.method == Method.ANYTIME:
            return half_width(n, 1.0, self.alpha, self.rho)
        if self.method == Method.FIXED_N:
            return float(stdtrit(n - 1, 1 - self.alpha / 2)) / math.sqrt(n)
        if n < self.start:  # a diverged pair can leave a look with fewer pairs than any the design planned
            return math.inf
        z = _normal_bound(self.start, self.max, self.alpha, self.shape, n)
        return float(stdtrit(n - 1, ndtr(z))) / math.sqrt(n)  # the t quantile of the look's normal-scale boundary

    def first_decisive(self) -> int | None:
        """The first look (seeds) whose interval is bounded, so at which anything can be decided."""
        if self.method == Method.SIGN_FLIP:
            return self.looks_from if self.looks_from <= self.max else None
        return next((n for n in range(max(self.start, 2), self.max + 1) if math.isfinite(self.factor(n))), None)

    def describe(self) -> str:
        """The method in a line, for tables: e.g. "sign-flip, seeds 3-20, 0.9875 each"."""
        if self.method == Method.FIXED_N:
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
