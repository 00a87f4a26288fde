"""Every report's effects, from the one effect engine (`se_train/decide.py`): one sweep with fixed
or adaptive seeds, or a study of many. Each effect is decided under the rule of the sweep that
asked it, over that sweep's own runs: the experiments that compare its axis and ran both of its
cells. An adaptive asker's rule comes first (its rule chose the seeds, and alone keeps its error
rate), then the earliest sweep to start, then the name: never the order a study lists its
experiments in. An effect no sweep asked (its cells from different sweeps) gets a fixed-n
t-interval over every run of its cells."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from se_train import cell
from se_train.decide import history, paired_seeds, probability_of_improvement
from se_train.method_text import method_text
from se_train.progress import IMAGES, comparisons_of, effects_of
from se_train.rule import Rule
from se_train.report import markup
from se_train.report.collect import Experiment
from se_train.errors import UserError
from se_train.result import Key, Outcome, Run, Verdict

RUN_VALUE = {Key.VALID_ACC: Run.MAX_VALID_ACC, Key.TEST_ACC: Key.TEST_ACC}  # a metric's column in the runs table
SPLIT = {Key.VALID_ACC: "valid", Key.TEST_ACC: "test"}
COLUMNS = ["effect", "model", "dataset", "cell", "n", "seeds", "mean", "ci_low", "ci_high", "verdict", "pairs_with_divergence",
           "ahead", "p_improvement", "sd", "method", "decided_by", "adaptive", "margin", "step", "looks"]
PAIR_COLUMNS = ["effect", "model", "dataset", "cell", "treated", "control", "seed", "treated_value", "control_value", "difference"]


def effects(exp: Experiment) -> tuple[pd.DataFrame, list[str], pd.DataFrame]:
    """One row per effect among the runs (verdict, seeds taken, estimate, interval, per-seed sd,
    every look, its method and the sweep whose rule decided it), the paragraph of each method
    used, and every paired difference the verdicts rest on (`PAIR_COLUMNS`)."""
    records = {record.experiment: record for record in exp.sources}
    comparisons = {name: comparisons_of(r.spec) for name, r in records.items()}
    # earliest first, then by name: the order askers are tried in and effects are listed in, whatever order the study lists them
    order = sorted(records, key=lambda e: (records[e].started is None, records[e].started or 0, e))
    rank = {e: i for i, e in enumerate(order)}
    rows = sorted(exp.runs.to_dict("records"), key=lambda r: rank.get(r[Run.EXPERIMENT], len(rank)))
    cells = {cell.key(r, exp.axes): r for r in rows}
    found = effects_of(list(cells.values()), exp.axes, list(dict.fromkeys(c for e in order for c in comparisons[e])))
    own, texts_of = {}, {}  # experiment -> its rule (an adaptive sweep's, as it decided) and its paragraph
    for name, record in records.items():
        if record.spec.seeds:
            spec = record.spec
            count = len(effects_of(spec.cells(), spec.axes(), comparisons_of(spec)))
            own[name] = Rule.of(spec.seeds, count)
            texts_of[name] = method_text(own[name], count, spec.seeds.confidence)
    ran: dict[str, set[str]] = {}
    for r in rows:
        ran.setdefault(r[Run.EXPERIMENT], set()).add(cell.key(r, exp.axes))
    table, pairs, texts = [], [], {}
    by_decider: dict[str | None, tuple] = {}  # each decider's runs as values and steps, read once
    for effect in found:
        askers = [e for e in order if effect.comparison in comparisons[e] and {effect.treated, effect.control} <= ran.get(e, set())]
        adaptive = [e for e in askers if e in own]
        decider = adaptive[0] if adaptive else None
        rule = own[decider] if decider else Rule.fixed_n()
        texts.setdefault(rule, texts_of[decider] if decider else method_text(rule, 0, 0))
        if decider not in by_decider:
            by_decider[decider] = _values([r for r in rows if decider is None or r[Run.EXPERIMENT] == decider], exp.axes, rule.metric, records, order)
        values, steps = by_decider[decider]
        step = max(steps.get(effect.treated, 0.0), steps.get(effect.control, 0.0))
        treated, control = values.get(effect.treated, {}), values.get(effect.control, {})
        looks = history(treated, control, rule.at_step(step))
        last = looks[-1] if looks else None
        seeds = paired_seeds(treated, control, rule, last.seeds if last else 0)
        chosen = [(treated[s], control[s]) for s in seeds]
        where = {k: v for k, v in effect.where.items() if k not in ("model", "dataset")}
        where_text = ", ".join(f"{k}={v}" for k, v in where.items())
        diffs = [t - c for t, c in chosen]
        table.append({
            "effect": effect.name,
            # a comparison of models (or datasets) has none of its own: the two compared stand there
            "model": effect.where.get("model", _pair(effect, "model")),
            "dataset": effect.where.get("dataset", _pair(effect, "dataset")),
            "cell": where_text,
            "n": last.n if last else 0,
            "seeds": last.seeds if last else 0,
            "mean": last.mean if last else math.nan,
            "ci_low": last.low if last else math.nan,
            "ci_high": last.high if last else math.nan,
            "verdict": last.verdict if last else Verdict.OPEN,
            "pairs_with_divergence": (last.seeds - last.n) if last else 0,
            "ahead": sum(t > c for t, c in chosen),  # seeds whose treated run beat its control
            "p_improvement": probability_of_improvement(chosen),
            "sd": float(pd.Series(diffs).std()) if len(diffs) > 1 else math.nan,  # the spread to plan the next sweep with
            "method": rule.describe(),
            "decided_by": _decided_by(decider, askers, own),
            "adaptive": rule.adaptive,
            "margin": rule.margin,
            "step": step,
            "looks": [(lk.seeds, lk.mean, lk.low, lk.high) for lk in looks],
        })
        pairs += [{"effect": effect.name, "model": table[-1]["model"], "dataset": table[-1]["dataset"], "cell": where_text,
                   # as text: one column holds every axis's values (True, "selu", 0.001)
                   "treated": str(effect.comparison.treated), "control": str(effect.comparison.control), "seed": s,
                   "treated_value": treated[s], "control_value": control[s], "difference": treated[s] - control[s]} for s in seeds]
    return pd.DataFrame(table, columns=COLUMNS), list(dict.fromkeys(texts.values())), pd.DataFrame(pairs, columns=PAIR_COLUMNS)


def _pair(effect, axis: str) -> str | None:
    return f"{effect.comparison.treated} vs {effect.comparison.control}" if effect.comparison.axis == axis else None


def spread_of(location: str) -> tuple[float, str]:
    """The per-seed sd to plan a sweep with, from a report or experiment folder: the median of its
    effects' (as its report prints them), and where it came from."""
    from se_train.report.collect import read

    eff, _, _ = effects(read(location))
    sds = eff["sd"].dropna()
    if sds.empty:
        raise UserError(f"{location}: no effect has two paired seeds, so no per-seed spread to read; give --spread in points")
    return float(sds.median()), f"the median per-seed sd of {len(sds)} effect(s) in {location}"


def _decided_by(decider: str | None, askers: list[str], own: Mapping[str, Rule]) -> str:
    """Whose rule decided an effect, and why that one where several sweeps asked it."""
    if decider is None:
        return "fixed n: " + (f"asked by {', '.join(askers)}, seeds listed" if askers else "no sweep ran both cells; every run of them")
    others = [e for e in askers if e != decider and own.get(e) != own[decider]]
    why = f"; also asked by {', '.join(others)} under another rule: the first adaptive sweep to start decides" if others else ""
    return f"{decider}{why}"


def _values(rows: list[dict], axes: list[str], metric: str, records: Mapping, order: list[str]
            ) -> tuple[dict[str, dict[int, float | None]], dict[str, float]]:
    """Each cell's finished seeds (as `decide.history` takes them): a completed run gives its value
    in points, a diverged or errored one None, an unfinished one nothing yet; where two experiments
    ran the same seed of a cell, the one first in `order`. And each cell's step in points: 100/N
    for N images, from the runs or else their sweep's record of the dataset."""
    column, rank = RUN_VALUE[Key(metric)], {e: i for i, e in enumerate(order)}
    values: dict[str, dict[int, float | None]] = {}
    steps: dict[str, float] = {}
    for r in sorted(rows, key=lambda r: -rank.get(r[Run.EXPERIMENT], 0)):  # the first in order written last, so it wins
        key, seed = cell.key(r, axes), int(r["seed"])
        ran = values.setdefault(key, {})
        if r[Run.STATUS] in (Outcome.DIVERGED, Outcome.ERRORED):
            ran[seed] = None
        elif r[Run.STATUS] == Outcome.COMPLETED:
            value = r.get(column)
            ran[seed] = None if value is None or pd.isna(value) else 100 * float(value)
        images = r.get(IMAGES[Key(metric)])
        if images is None or pd.isna(images):
            images = records[r[Run.EXPERIMENT]].datasets.get(r.get("dataset"), {}).get(SPLIT[Key(metric)]) if r[Run.EXPERIMENT] in records else None
        if images:
            steps[key] = max(steps.get(key, 0.0), 100 / float(images))
    return values, steps


def markdown(eff: pd.DataFrame) -> str:
    """The effects as a table: each effect's verdict in bold, the seeds it took, its estimate and
    final interval (unbounded while too few seeds rule nothing out), the per-seed sd of the
    differences (the spread to plan a sweep with: `--dry-run --spread`), in how many seeds the treated
    run was ahead with the probability of improvement, and its method."""
    if eff.empty:
        return "No pairs to compare: no two cells differ only in a compared axis."
    header = ["effect", "model", "dataset", "with", "Δ (points)", "interval", "per-seed sd", "seeds", "ahead", "verdict", "method"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in eff.itertuples(index=False):
        ci = "–" if math.isnan(r.ci_low) else f"[{_signed(r.ci_low)}, {_signed(r.ci_high)}]"
        extra = f"; {r.pairs_with_divergence} pair(s) left out: diverged or failed" if r.pairs_with_divergence else ""
        extra += "; one seed: no interval" if r.n == 1 else ""
        # one pair is no estimate of a probability: its count alone
        ahead = f"{r.ahead} of {r.n}" + (f", P(ahead) {r.p_improvement:.2f}" if r.n > 1 else "") if r.n else "–"
        sd = "–" if math.isnan(r.sd) else f"{r.sd:.2f}"
        # where sweeps under other rules asked it too, whose rule decided and why
        method = f"{r.method}; {r.decided_by}" if "also asked" in r.decided_by else r.method
        names = " | ".join(markup.text(v) for v in (r.effect, r.model, r.dataset, r.cell))
        lines.append(f"| {names} | {_signed(r.mean)} | {ci} | {sd} | {r.seeds} | {ahead} | **{r.verdict}**{extra} | {markup.text(method)} |")
    return "\n".join([*lines, "", AHEAD])


# What the "ahead" column says, under every effects table: its probability is not a verdict's.
AHEAD = ("*ahead*: the seeds whose treated run beat its control; *P(ahead)*: the chance that a treated run beats a control "
         "run, over every pair of their runs (the probability of improvement, Agarwal et al. 2021), a description of the runs, "
         "not the probability that the effect is real: that is the verdict's job.")


def _signed(x: float) -> str:
    if math.isnan(x):
        return "–"
    if math.isinf(x):  # an interval before enough seeds rule anything out
        return "+∞" if x > 0 else "−∞"
    return f"{x:+.2f}".replace("-", "−")  # one minus sign for every number of the table, as for −∞
