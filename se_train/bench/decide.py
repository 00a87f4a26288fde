"""`se-sweep bench decide`: the methods of adaptive seeds side by side, measured by simulation with
the sweep's own decision code (`se_train.decide.simulate`, the vectorised `history` that the
searcher and every report run), beside the rule users apply by hand: a 95% t-interval after
every seed.

Each simulated sweep is the study's 2 x 2 design (ReLU / SELU x no SE / SE): 4 effects, each over
seeds start..max, at confidence 0.95 split over the 4. Per-seed differences are in units of their
own standard deviation σ (a scenario on a grid of accuracy carries its step in σ too), the margin
is 0.3σ, seeds run from 3 to 20. The zero-effect scenarios are the shapes accuracy differences
take: normal, heavy-tailed, short-tailed, binomial on N valid images, a fixed valid set whose
differences are mostly ties, the real differences of `results/study` resampled, and a real A/A
pool (one cell over 200 seeds, `sweeps/aa_digits.yaml`) whose distinct seeds are paired.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from se_train.result import DECIDED, Key, Method, Outcome, Run, Verdict
from se_train import experiment as layout
from se_train.decide import simulate
from se_train.progress import STUDY
from se_train.rule import RHO, SHAPE, Rule
from se_train.errors import UserError

START, MAX, MARGIN, CONFIDENCE, PER_SWEEP = 3, 20, 0.3, 0.95, 4  # PER_SWEEP: effects in the 2 x 2 design
ALPHA = (1 - CONFIDENCE) / PER_SWEEP
METHODS = {  # name: rule; the default first, then what it was chosen against
    f"sign-flip (default, shape {SHAPE})": Rule(Method.SIGN_FLIP, START, MAX, MARGIN, ALPHA),
    f"fixed-horizon t (default before, shape {SHAPE})": Rule(Method.FIXED_HORIZON, START, MAX, MARGIN, ALPHA),
    f"anytime (ρ {RHO})": Rule(Method.ANYTIME, START, MAX, MARGIN, ALPHA),
    "naive: 95% t-interval after every seed": Rule(Method.FIXED_N, START, MAX, MARGIN, 0.05),
}
COLUMNS = ["method", "scenario", "effect_sigma", "wrong_per_effect", "wrong_per_sweep", "mc_se", "decided_by_max", "mean_seeds"]
AA_POOL = Path("results/bench/aa_digits")
# A fixed valid set of 1,000 images, as in results/decisive_mnist: most images every run gets
# right, a few it gets right by chance. Two runs differ only on those, so most differences are
# a few images either way, with many exact ties.
VALID_SET = {"images": 1000, "hard": ((60, 0.9), (40, 0.5))}  # (images, chance a run gets one right)


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


def aa_differences(pool: Path, shape: tuple[int, ...], rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Zero-effect differences from a real A/A pool (a report of one cell over many seeds): each
    effect pairs MAX runs against MAX others, all of distinct seeds, in units of the differences'
    sd; and the grid's step in those units."""
    path = pool / layout.RUNS_TABLE
    if not path.is_file():
        raise UserError(f"{path}: no such file; run sweeps/aa_digits.yaml and report it there (its header says how)")
    runs = layout.read_table(str(pool), layout.RUNS_TABLE)
    runs = runs[runs[Run.STATUS] == Outcome.COMPLETED]
    values = runs[Run.MAX_VALID_ACC].to_numpy() * 100
    if len(values) < 2 * shape[-1]:
        raise UserError(f"{path}: {len(values)} completed runs; pairing distinct seeds needs {2 * shape[-1]}")
    effects = math.prod(shape[:-1])
    chosen = np.argsort(rng.random((effects, len(values))), axis=1)[:, :2 * shape[-1]]  # distinct seeds per effect
    d = (values[chosen[:, :shape[-1]]] - values[chosen[:, shape[-1]:]]).reshape(shape)
    sd = math.sqrt(2) * values.std(ddof=1)
    return d / sd, 100 / float(runs[Key.VALID_IMAGES].iloc[0]) / sd


def _binomial(images: int, accuracy: float = 0.95):
    """Each run's accuracy a binomial count of `images`: differences on a grid of 100/images points."""
    sd = 100 * math.sqrt(2 * accuracy * (1 - accuracy) / images)

    def draw(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, float]:
        runs = rng.binomial(images, accuracy, (2, *shape)) * (100 / images)
        return (runs[0] - runs[1]) / sd, (100 / images) / sd
    return draw


def _valid_set(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, float]:
    """Two runs on VALID_SET: they differ only on its hard images."""
    d = sum(rng.binomial(n, p, shape) - rng.binomial(n, p, shape) for n, p in VALID_SET["hard"]) * (100 / VALID_SET["images"])
    sd = 100 / VALID_SET["images"] * math.sqrt(sum(2 * n * p * (1 - p) for n, p in VALID_SET["hard"]))
    return d / sd, (100 / VALID_SET["images"]) / sd


def measure(rule: Rule, noise: np.ndarray, effect: float) -> dict[str, float]:
    """`noise`: (sweeps, PER_SWEEP, MAX) per-seed noise; each sweep's 4 effects of size `effect` (σ)."""
    verdicts, seeds = simulate(effect + noise.reshape(-1, MAX), rule)
    wrong = _wrong(verdicts, effect).reshape(len(noise), PER_SWEEP)
    per_sweep = float(wrong.any(axis=1).mean())
    return {
        "wrong_per_effect": float(wrong.mean()),
        "wrong_per_sweep": per_sweep,
        "mc_se": math.sqrt(per_sweep * (1 - per_sweep) / len(noise)),
        "decided_by_max": float(np.isin(verdicts, DECIDED).mean()),
        "mean_seeds": float(seeds.mean()),
    }


def _wrong(verdicts: np.ndarray, effect: float) -> np.ndarray:
    """A zero effect called better or worse; an effect beyond the margin called equivalent or the
    wrong way."""
    if effect == 0:
        return np.isin(verdicts, (Verdict.BETTER, Verdict.WORSE))
    return np.isin(verdicts, (Verdict.EQUIVALENT, Verdict.WORSE if effect > 0 else Verdict.BETTER))


def _continuous(draw):
    return lambda rng, shape: (draw(rng, shape), 0.0)


def bench_decide(real: Path, sweeps: int = 10_000, csv: Path = Path("results/bench/decide.csv"), seed: int = 0,
                 pool: Path = AA_POOL) -> str:
    pooled = real_differences(real)
    shape = (sweeps, PER_SWEEP, MAX)
    normal = _continuous(lambda rng, shape: rng.standard_normal(shape))
    scenarios = [  # name, effect (σ), margin (σ), draw -> (noise, the metric's step in σ): every method sees the same draws
        ("zero, normal", 0.0, MARGIN, normal),
        ("zero, t(3)", 0.0, MARGIN, _continuous(lambda rng, shape: rng.standard_t(3, shape) / math.sqrt(3))),  # unit variance
        ("zero, uniform", 0.0, MARGIN, _continuous(lambda rng, shape: rng.uniform(-math.sqrt(3), math.sqrt(3), shape))),
        *[(f"zero, binomial on N = {n:,} images", 0.0, MARGIN, _binomial(n)) for n in (500, 1000, 5000)],
        (f"zero, a fixed {VALID_SET['images']:,}-image valid set, no equivalence stop", 0.0, 0.0, _valid_set),
        (f"zero, resampled ({real})", 0.0, MARGIN, _continuous(lambda rng, shape: rng.choice(pooled, shape))),
        (f"zero, real A/A pool ({pool}: distinct seeds paired)", 0.0, MARGIN, lambda rng, shape: aa_differences(pool, shape, rng)),
        ("0.5σ, normal", 0.5, MARGIN, normal),
        ("1σ, normal", 1.0, MARGIN, normal),
        ("2σ, normal", 2.0, MARGIN, normal),
    ]
    rows = []
    for number, (scenario, effect, margin, draw) in enumerate(scenarios):
        noise, step = draw(np.random.default_rng([seed, number]), shape)
        rows += [{"method": name, "scenario": scenario, "effect_sigma": effect,
                  **measure(replace(rule, margin=margin, step=step), noise, effect)} for name, rule in METHODS.items()]
    table = pd.DataFrame(rows, columns=COLUMNS)
    csv.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(csv, index=False)
    lines = [
        f"{sweeps:,} simulated sweeps per scenario, each 4 effects (the 2 x 2 design), seeds {START} to {MAX}, margin {MARGIN}σ "
        f"(none where said), confidence {CONFIDENCE} for the sweep ({ALPHA:.4g} per effect); every method sees the same draws; "
        f"the resampled scenario draws from {len(pooled)} real per-seed differences, each effect's centred on its mean, in units of "
        f"their sd. mc_se: the Monte Carlo standard error of wrong per sweep. Written to {csv}.",
        "wrong: a zero effect called better or worse; an effect beyond the margin called equivalent or the wrong way",
        "",
        "| scenario | method | wrong, per effect | wrong, per sweep ± mc_se | decided by max | mean seeds |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['scenario']} | {r['method']} | {r['wrong_per_effect']:.2%} | {r['wrong_per_sweep']:.2%} ± {r['mc_se']:.2%} | "
                     f"{r['decided_by_max']:.1%} | {r['mean_seeds']:.1f} |")
    return "\n".join(lines)
