"""`se-sweep bench decide`: the error rates of adaptive seeds, measured by simulation with the
sweep's own decision code (`se_train.decide.history`, which the searcher and the report run),
beside the rule users apply by hand: a 95% t-interval after every seed.

Each simulated sweep is the study's 2 x 2 design (ReLU / SELU x no SE / SE): 4 effects, each over
seeds 0..max-1, at confidence 0.95 split over the 4. Per-seed differences are in units of their own
standard deviation σ, the margin is 0.3σ, seeds run from 3 to 20.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from se_train import experiment as layout
from se_train.decide import DECIDED, EFFECTS, Rule, history
from se_train.errors import UserError

START, MAX, MARGIN, CONFIDENCE, PER_SWEEP = 3, 20, 0.3, 0.95, 4  # PER_SWEEP: effects in the 2 x 2 design
# Each effect's two cells (the 2 x 2 design's cells 0-3: relu, relu SE, selu, selu SE): a cell
# runs as many seeds as the longer of its effects.
CELLS = [(1, 0), (3, 2), (2, 0), (3, 1)]


def real_differences(report: Path) -> np.ndarray:
    """Per-seed differences of every SE and SELU effect in a committed report's runs, each effect
    centred on its own mean (a zero effect with real noise), pooled, scaled to unit variance."""
    path = report / layout.RUNS_TABLE
    if not path.is_file():
        raise UserError(f"{path}: no such file; pass --real a folder `se-sweep report` wrote (e.g. results/study)")
    runs = layout.read_table(str(report), layout.RUNS_TABLE)
    runs = runs[runs["status"] == "completed"]
    keys = ["dataset", "model", "inputs", "lr", "epochs"]
    pooled = []
    for axis, treated, control in EFFECTS.values():
        others = [k for k in ("dataset", "model", "activation", "se") if k != axis] + keys[2:]
        for _, group in runs.groupby(list(dict.fromkeys(others)), dropna=False):
            both = group[group[axis] == treated].merge(group[group[axis] == control], on="seed")
            d = (both["max_valid_acc_x"] - both["max_valid_acc_y"]).to_numpy() * 100
            if len(d) >= 2:
                pooled.extend(d - d.mean())
    pooled = np.asarray(pooled)
    if len(pooled) < 4:
        raise UserError(f"{path}: fewer than 4 paired seeds to resample")
    return pooled / pooled.std(ddof=1)


def _naive(diffs: np.ndarray) -> tuple[str, int]:
    """What users do by hand: a 95% t-interval after every seed, stopping when it excludes 0 or
    lies inside ±margin."""
    for n in range(START, MAX + 1):
        d = diffs[:n]
        half = stats.t.ppf(0.975, n - 1) * d.std(ddof=1) / math.sqrt(n)
        low, high = d.mean() - half, d.mean() + half
        if low > 0:
            return "better", n
        if high < 0:
            return "worse", n
        if -MARGIN < low and high < MARGIN:
            return "equivalent", n
    return "unresolved at max", MAX


def _ours(diffs: np.ndarray, rule: Rule) -> tuple[str, int]:
    last = history(dict(enumerate(diffs)), dict.fromkeys(range(MAX), 0.0), rule)[-1]
    return last.verdict, last.seeds


def simulate(draw, effect: float, sweeps: int, rng: np.random.Generator) -> dict[str, dict[str, float]]:
    """`sweeps` sweeps of 4 effects of true size `effect` (σ) with noise from `draw(rng, n)`; per
    rule, the rate of each verdict, of wrong ones per effect and per sweep, and the seeds used."""
    rule = Rule(START, MAX, MARGIN, (1 - CONFIDENCE) / PER_SWEEP)
    rows = {}
    for name, decide in (("se-sweep", lambda d: _ours(d, rule)), ("naive t, every seed", _naive)):
        verdicts, wrong_sweeps, trials, seeds = [], 0, [], []
        for _ in range(sweeps):
            found = [decide(effect + draw(rng, MAX)) for _ in range(PER_SWEEP)]
            wrong = [_wrong(v, effect) for v, _ in found]
            wrong_sweeps += any(wrong)
            verdicts += [v for v, _ in found]
            seeds += [n for _, n in found]
            per_cell = [max(n for (v, n), cells in zip(found, CELLS) if c in cells) for c in range(4)]
            trials.append(sum(per_cell))
        v = pd.Series(verdicts)
        rows[name] = {
            **{verdict: float((v == verdict).mean()) for verdict in (*DECIDED, "unresolved at max")},
            "wrong": float(np.mean([_wrong(x, effect) for x in verdicts])),
            "wrong_sweeps": wrong_sweeps / sweeps,
            "seeds_mean": float(np.mean(seeds)),
            "seeds_p90": float(np.percentile(seeds, 90)),
            "trials_mean": float(np.mean(trials)),
        }
    return rows


def _wrong(verdict: str, effect: float) -> bool:
    """A zero effect called better or worse; an effect beyond the margin called equivalent or
    the wrong way."""
    if effect == 0:
        return verdict in ("better", "worse")
    return verdict in ("equivalent", "worse" if effect > 0 else "better")


def bench_decide(real: Path, sweeps: int = 2000, seed: int = 0) -> str:
    pooled = real_differences(real)
    scenarios = [
        ("zero, normal", 0.0, lambda rng, n: rng.standard_normal(n)),
        ("zero, t(3)", 0.0, lambda rng, n: rng.standard_t(3, n) / math.sqrt(3)),  # unit variance
        (f"zero, resampled ({real})", 0.0, lambda rng, n: rng.choice(pooled, n)),
        ("0.5σ, normal", 0.5, lambda rng, n: rng.standard_normal(n)),
        ("1σ, normal", 1.0, lambda rng, n: rng.standard_normal(n)),
        ("2σ, normal", 2.0, lambda rng, n: rng.standard_normal(n)),
    ]
    rng = np.random.default_rng(seed)
    lines = [
        f"{sweeps:,} simulated sweeps per scenario, each 4 effects (the 2 x 2 design), seeds {START} to {MAX}, margin {MARGIN}σ, "
        f"confidence {CONFIDENCE} for the sweep (se-sweep: {1 - CONFIDENCE:.2f} / {PER_SWEEP} per effect); the resampled scenario "
        f"draws from {len(pooled)} real per-seed differences, each effect's centred on its mean, in units of their sd",
        "wrong: a zero effect called better or worse; an effect beyond the margin called equivalent or the wrong way",
        "",
        "| scenario | rule | better | worse | equivalent | unresolved at max | wrong, per effect | wrong, any in the sweep | seeds per effect: mean | p90 | trials per sweep (of 80): mean |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, effect, draw in scenarios:
        for rule, r in simulate(draw, effect, sweeps, rng).items():
            lines.append(
                f"| {name} | {rule} | {r['better']:.1%} | {r['worse']:.1%} | {r['equivalent']:.1%} | {r['unresolved at max']:.1%} | "
                f"**{r['wrong']:.1%}** | {r['wrong_sweeps']:.1%} | {r['seeds_mean']:.1f} | {r['seeds_p90']:.0f} | {r['trials_mean']:.1f} |"
            )
    return "\n".join(lines)
