"""The report of a sweep with a `seeds:` block: each effect's verdict, the seeds it took, its
estimate and final interval, replayed from the runs by the same code the sweep decided with
(`se_train/decide.py`), so the report says what the sweep did."""

from __future__ import annotations

import math
import pandas as pd

from se_train.config import Seeds
from se_train.decide import METHOD, RHO, Progress, Rule
from se_train.report import tables
from se_train.result import Key

RUN_VALUE = {Key.VALID_ACC: "max_valid_acc", Key.TEST_ACC: Key.TEST_ACC}  # a metric's column in the runs table


def progress(runs: pd.DataFrame, axes: list[str], seeds: Seeds) -> Progress:
    """The sweep's effects and each cell's finished seeds, from the runs table: a completed run
    gives its value in points, a diverged or errored one None, an unfinished one nothing yet."""
    rows = runs.to_dict("records")
    state = Progress.of(rows, axes, seeds)
    for r in rows:
        if r["status"] in ("diverged", "errored"):
            state.record(r, None)
        elif r["status"] == "completed":
            value = r[RUN_VALUE[seeds.metric]]
            state.record(r, None if pd.isna(value) else 100 * float(value))
    return state


def table(state: Progress) -> pd.DataFrame:
    """One row per effect: the columns of `tables.effects` (so `plots.effects_plot` draws it),
    with the seeds it took and every look, for the narrowing plot."""
    rows = []
    for effect in state.effects:
        looks = state.looks(effect)
        last = looks[-1] if looks else None
        where = {k: v for k, v in effect.where.items() if k not in ("model", "dataset")}
        rows.append({
            "effect": effect.name,
            "model": effect.where.get("model"),
            "dataset": effect.where.get("dataset"),
            "cell": ", ".join(f"{k}={v}" for k, v in where.items()),
            "n": last.n if last else 0,
            "seeds": last.seeds if last else 0,
            "mean": last.mean if last else math.nan,
            "ci_low": last.low if last else math.nan,
            "ci_high": last.high if last else math.nan,
            "verdict": last.verdict if last else "open",
            "pairs_with_divergence": (last.seeds - last.n) if last else 0,
            "looks": [(lk.seeds, lk.mean, lk.low, lk.high) for lk in looks],
        })
    return pd.DataFrame(rows)


def method(seeds: Seeds, effects: int) -> str:
    rule = Rule.of(seeds, effects)
    return METHOD.format(metric=seeds.metric.replace("_", " "), rho=RHO, confidence=seeds.confidence, k=effects,
                         each=100 * rule.alpha, margin=seeds.margin, max=seeds.max, last_start=seeds.start - 1)


def markdown(eff: pd.DataFrame, seeds: Seeds) -> str:
    return tables.effects_markdown(eff, f"interval ({seeds.confidence:.0%} together)", seeds.metric.replace("_", " "))
