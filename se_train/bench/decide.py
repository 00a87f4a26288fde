"""`se-sweep bench decide`: the methods of adaptive seeds side by side, measured by simulation with
the sweep's own decision code (`se_train.decide.simulate`, the vectorised `history` that the
searcher and every report run), beside the rule users apply by hand: a 95% t-interval after
every seed.

Each simulated sweep is the study's 2 x 2 design (ReLU / SELU x no SE / SE): 4 effects, each over
seeds start..max, at confidence 0.95 split over the 4. Per-seed differences are in units of their
own standard deviation σ, the margin is 0.3σ, seeds run from 3 to 20.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from se_train.result import Run, Outcome
from se_train import experiment as layout
from se_train.decide import ANYTIME, FIXED_HORIZON, FIXED_N, RHO, SHAPE, STUDY, Rule, simulate
from se_train.errors import UserError

START, MAX, MARGIN, CONFIDENCE, PER_SWEEP = 3, 20, 0.3, 0.95, 4  # PER_SWEEP: effects in the 2 x 2 design
ALPHA = (1 - CONFIDENCE) / PER_SWEEP
METHODS = {  # name: rule; the defaults first, then what they were chosen against
    f"fixed-horizon (default, shape {SHAPE})": Rule(FIXED_HORIZON, START, MAX, MARGIN, ALPHA),
    f"anytime (ρ {RHO})": Rule(ANYTIME, START, MAX, MARGIN, ALPHA),
    "fixed-horizon, O'Brien–Fleming (shape 0)": Rule(FIXED_HORIZON, START, MAX, MARGIN, ALPHA, shape=0.0),
    "fixed-horizon, Pocock (shape 0.5)": Rule(FIXED_HORIZON, START, MAX, MARGIN, ALPHA, shape=0.5),
    "anytime (ρ 0.1, before)": Rule(ANYTIME, START, MAX, MARGIN, ALPHA, rho=0.1),
    "anytime (ρ 1)": Rule(ANYTIME, START, MAX, MARGIN, ALPHA, rho=1.0),
    "naive: 95% t-interval after every seed": Rule(FIXED_N, START, MAX, MARGIN, 0.05),
}
COLUMNS = ["method", "scenario", "effect_sigma", "wrong_per_effect", "wrong_per_sweep", "decided_by_max", "mean_seeds"]


def real_differences(report: Path) -> np.ndarray:
    """Per-seed differences of every SE and SELU effect in a committed report's runs, each effect
    centred on its own mean (a zero effect with real noise), pooled, scaled to unit variance."""
    path = report / layout.RUNS_TABLE
    if not path.is_file():
        raise UserError(f"{path}: no such file; pass --real a folder `se-sweep report` wrote (e.g. results/study)")
    runs = layout.read_table(str(report), layout.RUNS_TABLE)
    runs = runs[runs[Run.STATUS] == Outcome.COMPLETED]
    keys = ["dataset", "model", "inputs", "lr", "epochs"]
    pooled = []
    for c in STUDY:
        others = [k for k in ("dataset", "model", "activation", "se") if k != c.axis] + keys[2:]
        for _, group in runs.groupby(list(dict.fromkeys(others)), dropna=False):
            both = group[group[c.axis] == c.treated].merge(group[group[c.axis] == c.control], on="seed")
            d = (both["max_valid_acc_x"] - both["max_valid_acc_y"]).to_numpy() * 100
            if len(d) >= 2:
                pooled.extend(d - d.mean())
    pooled = np.asarray(pooled)
    if len(pooled) < 4:
        raise UserError(f"{path}: fewer than 4 paired seeds to resample")
    return pooled / pooled.std(ddof=1)


def measure(rule: Rule, noise: np.ndarray, effect: float) -> dict[str, float]:
    """`noise`: (sweeps, PER_SWEEP, MAX) per-seed noise; each sweep's 4 effects of size `effect` (σ)."""
    verdicts, seeds = simulate(effect + noise.reshape(-1, MAX), rule)
    wrong = _wrong(verdicts, effect).reshape(len(noise), PER_SWEEP)
    return {
        "wrong_per_effect": float(wrong.mean()),
        "wrong_per_sweep": float(wrong.any(axis=1).mean()),
        "decided_by_max": float(np.isin(verdicts, ("better", "worse", "equivalent")).mean()),
        "mean_seeds": float(seeds.mean()),
    }


def _wrong(verdicts: np.ndarray, effect: float) -> np.ndarray:
    """A zero effect called better or worse; an effect beyond the margin called equivalent or the
    wrong way."""
    if effect == 0:
        return np.isin(verdicts, ("better", "worse"))
    return np.isin(verdicts, ("equivalent", "worse" if effect > 0 else "better"))


def bench_decide(real: Path, sweeps: int = 20_000, csv: Path = Path("results/bench/decide.csv"), seed: int = 0) -> str:
    pooled = real_differences(real)
    shape = (sweeps, PER_SWEEP, MAX)
    scenarios = [  # name, effect (σ), noise: every method sees the same draws
        ("zero, normal", 0.0, lambda rng: rng.standard_normal(shape)),
        ("zero, t(3)", 0.0, lambda rng: rng.standard_t(3, shape) / math.sqrt(3)),  # unit variance
        (f"zero, resampled ({real})", 0.0, lambda rng: rng.choice(pooled, shape)),
        ("0.5σ, normal", 0.5, lambda rng: rng.standard_normal(shape)),
        ("1σ, normal", 1.0, lambda rng: rng.standard_normal(shape)),
        ("2σ, normal", 2.0, lambda rng: rng.standard_normal(shape)),
    ]
    rows = []
    for number, (scenario, effect, draw) in enumerate(scenarios):
        noise = draw(np.random.default_rng([seed, number]))
        rows += [{"method": name, "scenario": scenario, "effect_sigma": effect, **measure(rule, noise, effect)} for name, rule in METHODS.items()]
    table = pd.DataFrame(rows, columns=COLUMNS)
    csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(csv, index=False)
    wrong_se = math.sqrt(0.05 * 0.95 / sweeps)
    lines = [
        f"{sweeps:,} simulated sweeps per scenario, each 4 effects (the 2 x 2 design), seeds {START} to {MAX}, margin {MARGIN}σ, "
        f"confidence {CONFIDENCE} for the sweep ({ALPHA:.4g} per effect); every method sees the same draws; the resampled scenario "
        f"draws from {len(pooled)} real per-seed differences, each effect's centred on its mean, in units of their sd. "
        f"Monte Carlo standard error of a 5% rate: {wrong_se:.2%}. Written to {csv}.",
        "wrong: a zero effect called better or worse; an effect beyond the margin called equivalent or the wrong way",
        "",
        "| scenario | method | wrong, per effect | wrong, per sweep | decided by max | mean seeds |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['scenario']} | {r['method']} | {r['wrong_per_effect']:.2%} | {r['wrong_per_sweep']:.2%} | "
                     f"{r['decided_by_max']:.1%} | {r['mean_seeds']:.1f} |")
    return "\n".join(lines)
