"""The one effect engine: whether each effect of a sweep or a study is decided, at an error rate
stated in advance. Ray-free and below sweep and report: the searcher that adds seeds
(`sweep/seeds.py`), `status`, the live view, every report (one sweep with fixed or adaptive
seeds, a study of many) and `se-sweep bench decide` all run this code, so what the sweep decided
is what every report says.

An effect is a paired difference, treated − control in accuracy points, over the seeds both of its
cells ran (SE − no SE, SELU − ReLU, or any `compare:` on a grid axis, in cells that agree on every
other axis). Its interval comes from the sweep's rule (`rule.py`); this module reads the verdicts
off it, look by look (`history`, and `simulate` for many sweeps at once). The effects among a
sweep's cells and where they stand are in `progress.py`; the words a report says of a rule, in
`method_text.py`.

Verdicts (one set for every method): better / worse when the interval excludes 0; equivalent when
it lies inside ±margin; open while neither and more seeds may come; unresolved at max when none
will. Each method's intervals hold the true mean at every look together, so the three decided
verdicts are all read off the same intervals and share one error rate. Many effects: α =
1 − confidence is split evenly over a sweep's effects (Bonferroni), valid however the effects
depend on each other (they share cells).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from se_train import sign_flip
from se_train.result import Method, Verdict
from se_train.rule import Rule



def verdict(low, high, margin: float, final):
    """The verdict of intervals [low, high] (numbers or arrays): better, worse, equivalent, else
    open, or unresolved at max where `final` (no more seeds will come)."""
    low, high = np.asarray(low), np.asarray(high)
    return _verdicts(low > 0, high < 0, (-margin < low) & (high < margin), final)


def _verdicts(better, worse, equivalent, final):
    chosen = np.select([better, worse, equivalent, np.broadcast_to(final, np.shape(better))],
                       [Verdict.BETTER, Verdict.WORSE, Verdict.EQUIVALENT, Verdict.UNRESOLVED], Verdict.OPEN)
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
    return Look(seeds, len(diffs), mean, low, high, Verdict.INCONCLUSIVE if said == Verdict.UNRESOLVED and not rule.adaptive else said)


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
            if looks[-1].verdict != Verdict.OPEN:
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
    verdicts = np.full(paths, Verdict.OPEN.value, dtype=object)
    seeds = np.full(paths, rule.max)
    for k in range(min(rule.looks_from, rule.max), rule.max + 1):
        still = np.flatnonzero(verdicts == Verdict.OPEN)
        if rule.method == Method.SIGN_FLIP:
            now = _sign_flip_verdicts(diffs[still, :k], rule, k >= rule.max)
        else:
            factor = rule.factor(k)
            half = np.full(len(still), math.inf) if math.isinf(factor) else factor * sd[still, k - 1]
            now = verdict(mean[still, k - 1] - half, mean[still, k - 1] + half, rule.margin, k >= rule.max)
        fresh = still[now != Verdict.OPEN]
        verdicts[fresh], seeds[fresh] = now[now != Verdict.OPEN], k
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
