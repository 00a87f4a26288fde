"""What a report says of a sweep's rule: each method in a paragraph with its numbers, and the
preview `--dry-run` prints (the chance of a verdict by max at effects of a few sizes, simulated
with the engine's own code)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from se_train import sign_flip
from se_train.decide import simulate
from se_train.result import DECIDED, Method, Verdict
from se_train.rule import Rule, boundary

INTERVALS = {
    Method.SIGN_FLIP: "a group-sequential sign-flip interval for the planned looks at {looks_from}..{max} seeds: each look's "
               "interval inverts Fisher's one-sample randomisation test (the subset means of the differences, Hartigan 1969), "
               "exact for any distribution of differences symmetric about its mean, with no normality and no variance to "
               "estimate; the looks spend the error along a Wang–Tsiatis boundary C·(n/{max})^({exponent:g}), C = {c:.3f} "
               "(Xu, Mütze, Konietschke & Friede 2024), and looks before {looks_from} seeds, which could not reach their "
               "level, are not taken. Each end is widened by half the metric's step (100/N points for N images), so ties "
               "never give a zero-width interval. The error across looks is that of the normal boundary, measured at or "
               "below it on real and simulated accuracy data (results/bench/decide.md); max is fixed once the sweep starts",
    Method.FIXED_HORIZON: "repeated t-intervals for the planned looks at {start}..{max} seeds (Jennison & Turnbull 1989), each "
                   "look's t statistic on the normal scale against a Wang–Tsiatis boundary C·(n/{max})^({exponent:g}), C = {c:.3f} "
                   "set by Monte Carlo of Student t statistics "
                   "so that the intervals of every look hold the true mean together: exact for normal differences of any "
                   "variance, for these planned looks (max is fixed once the sweep starts)",
    Method.ANYTIME: "an anytime-valid t-mixture confidence sequence (Lai 1976; Howard et al., Ann. Stat. 2021; mixture precision "
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
    c = boundary(rule.looks_from, rule.max, rule.alpha, rule.shape) if rule.method != Method.ANYTIME and rule.looks_from <= rule.max else math.inf
    intervals = INTERVALS[rule.method].format(start=rule.start, looks_from=rule.looks_from, max=rule.max, rho=rule.rho,
                                              exponent=rule.shape - 0.5, c=c)
    return ADAPTIVE_METHOD.format(metric=rule.metric.replace("_", " "), intervals=intervals, confidence=confidence, k=effects,
                                  each=100 * rule.alpha, margin=rule.margin, max=rule.max, last_start=min(rule.looks_from, rule.max) - 1)


PREVIEW_EFFECTS = (0.5, 1.0, 2.0, 3.0)  # in σ, the per-seed spread of a difference


def outlook(rule: Rule, effect: float, paths: int = 2000) -> tuple[float, float]:
    """For an effect of `effect` σ with normal differences (by simulation, a fixed seed): the median
    seeds to a verdict (inf when most sweeps reach none) and the chance of the right one by max."""
    verdicts, seeds = simulate(effect + np.random.default_rng(0).standard_normal((paths, rule.max)), rule)
    right = verdicts == (Verdict.BETTER if effect > 0 else Verdict.EQUIVALENT)
    decided = np.isin(verdicts, DECIDED)
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
    if rule.method == Method.SIGN_FLIP and rule.max > sign_flip.EXACT_UP_TO:  # beyond, each look draws 2^18 subsets: too slow to simulate here
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
