"""Every report's effects, from the one effect engine (`se_train/decide.py`): one sweep with fixed
or adaptive seeds, or a study of many. Each effect is decided under the rule that chose its seeds:
an adaptive sweep's own (so a report says what the sweep did, and a study never re-analyses it
with a fixed-n rule), else a fixed-n t-interval."""

from __future__ import annotations

import math

import pandas as pd

from se_train.decide import Rule, cell_key, comparisons_of, effects_of, history, method_text, paired, probability_of_improvement
from se_train.report.collect import Experiment
from se_train.result import Key, Run, Outcome

RUN_VALUE = {Key.VALID_ACC: Run.MAX_VALID_ACC, Key.TEST_ACC: Key.TEST_ACC}  # a metric's column in the runs table
COLUMNS = ["effect", "model", "dataset", "cell", "n", "seeds", "mean", "ci_low", "ci_high", "verdict", "pairs_with_divergence",
           "ahead", "p_improvement", "method", "adaptive", "margin", "looks"]


def effects(exp: Experiment) -> tuple[pd.DataFrame, list[str]]:
    """One row per effect among the runs (verdict, seeds taken, estimate, interval, every look,
    its method), and the paragraph of each method used."""
    specs = {record.experiment: record.spec for record in exp.sources}
    comparisons = list(dict.fromkeys(c for spec in specs.values() for c in comparisons_of(spec)))
    rows = exp.runs.to_dict("records")
    cells = {cell_key(r, exp.axes): r for r in rows}
    found = effects_of(list(cells.values()), exp.axes, comparisons)
    own = {}  # experiment -> (its rule, its method paragraph): an adaptive sweep's, as it decided
    for experiment, spec in specs.items():
        if spec.seeds:
            count = len(effects_of(spec.cells(), spec.axes(), comparisons_of(spec)))
            rule = Rule.of(spec.seeds, count)
            own[experiment] = (rule, method_text(rule, count, spec.seeds.confidence))
    sources = {key: [] for key in cells}  # the experiments a cell's runs came from
    for r in rows:
        sources[cell_key(r, exp.axes)].append(r["experiment"])
    values = {metric: _values(rows, exp.axes, column) for metric, column in RUN_VALUE.items()}
    table, used = [], []
    for effect in found:
        # Seeds from an adaptive sweep were chosen by its rule, which alone keeps its error rate.
        adaptive = [e for e in dict.fromkeys(sources[effect.treated] + sources[effect.control]) if e in own]
        rule = own[adaptive[0]][0] if adaptive else Rule.fixed_n()
        used.append(rule)
        by_seed = values[Key(rule.metric)]
        looks = history(by_seed.get(effect.treated, {}), by_seed.get(effect.control, {}), rule)
        last = looks[-1] if looks else None
        pairs = paired(by_seed.get(effect.treated, {}), by_seed.get(effect.control, {}), rule, last.seeds if last else 0)
        where = {k: v for k, v in effect.where.items() if k not in ("model", "dataset")}
        table.append({
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
            "ahead": sum(t > c for t, c in pairs),  # seeds whose treated run beat its control
            "p_improvement": probability_of_improvement(pairs),
            "method": rule.describe(),
            "adaptive": rule.adaptive,
            "margin": rule.margin,
            "looks": [(lk.seeds, lk.mean, lk.low, lk.high) for lk in looks],
        })
    texts = [text for rule, text in own.values() if rule in used]
    if Rule.fixed_n() in used:
        texts.append(method_text(Rule.fixed_n(), 0, 0))
    return pd.DataFrame(table, columns=COLUMNS), list(dict.fromkeys(texts))


def _values(rows: list[dict], axes: list[str], column: str) -> dict[str, dict[int, float | None]]:
    """Each cell's finished seeds (as `decide.history` takes them): a completed run gives its value
    in points, a diverged or errored one None, an unfinished one nothing yet."""
    values: dict[str, dict[int, float | None]] = {}
    for r in rows:
        cell = values.setdefault(cell_key(r, axes), {})
        if r[Run.STATUS] in (Outcome.DIVERGED, Outcome.ERRORED):
            cell[int(r["seed"])] = None
        elif r[Run.STATUS] == Outcome.COMPLETED:
            value = r.get(column)
            cell[int(r["seed"])] = None if value is None or pd.isna(value) else 100 * float(value)
    return values


def markdown(eff: pd.DataFrame) -> str:
    """The effects as a table: each effect's verdict in bold, the seeds it took, its estimate and
    final interval (unbounded while too few seeds rule nothing out), in how many seeds the treated
    run was ahead with the probability of improvement, and its method."""
    if eff.empty:
        return "No pairs to compare: no two cells differ only in a compared axis."
    header = ["effect", "model", "dataset", "with", "Δ (points)", "interval", "seeds", "ahead", "verdict", "method"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in eff.itertuples(index=False):
        ci = "–" if math.isnan(r.ci_low) else f"[{_signed(r.ci_low)}, {_signed(r.ci_high)}]"
        extra = f"; {r.pairs_with_divergence} pair(s) left out: diverged or failed" if r.pairs_with_divergence else ""
        extra += "; one seed: no interval" if r.n == 1 else ""
        # one pair is no estimate of a probability: its count alone
        ahead = f"{r.ahead} of {r.n}" + (f", P(better) {r.p_improvement:.2f}" if r.n > 1 else "") if r.n else "–"
        lines.append(f"| {r.effect} | {r.model} | {r.dataset} | {r.cell} | {_signed(r.mean)} | {ci} | {r.seeds} | {ahead} | **{r.verdict}**{extra} | {r.method} |")
    return "\n".join(lines)


def _signed(x: float) -> str:
    if math.isnan(x):
        return "–"
    if math.isinf(x):  # an interval before enough seeds rule anything out
        return "+∞" if x > 0 else "−∞"
    return f"{x:+.2f}"
