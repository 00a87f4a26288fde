"""The study's table (its Table 2, with seeds), the headline test table, and the same cell on two devices."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.special import stdtrit  # Student's t quantile; scipy.stats costs 0.5 s more to import

from se_train.report import markup
from se_train.trial_status import durations
from se_train.result import Key, Run, Outcome

ROW_KEYS = ["dataset", "model", "se"]  # a row of the study's table: e.g. SE_ResNet50 / MNIST
OWN_COLUMNS = ("device", "precision")  # columns of every table row; no second column when they tell rows apart
METRICS = [  # (column group, runs column, split, shown as percent)
    ("loss", Run.MIN_TRAIN_LOSS, "train", False),
    ("loss", Run.MIN_VALID_LOSS, "valid", False),
    ("acc %", Run.MAX_TRAIN_ACC, "train", True),
    ("acc %", Run.MAX_VALID_ACC, "valid", True),
    ("acc %", Key.TEST_ACC, "test", True),  # the final model's, once; not in the study
]


def row_keys(axes: list[str]) -> list[str]:
    """What makes a row of the table or a panel of the curves: the study's dataset / model / SE plus
    every other grid axis (lr, inputs, ...) except activation (the columns) and seed (the spread),
    so runs of different settings are never averaged together."""
    return ROW_KEYS + [a for a in axes if a not in (*ROW_KEYS, "activation", "seed")]


def row_title(key: dict) -> str:
    """e.g. "SE-resnet50 / mnist" or "simple_cnn / mnist, inputs=raw"."""
    extra = ", ".join(f"{k}={'default' if pd.isna(v) else v}" for k, v in key.items() if k not in ROW_KEYS)
    return f"{'SE-' if key['se'] else ''}{key['model']} / {key['dataset']}" + (f", {extra}" if extra else "")


def seeds_cell(group: pd.DataFrame, column: str, percent: bool) -> str:
    """mean ± std (n) over the seeds that did not diverge; diverged seeds named with their epoch."""
    diverged = group[group[Run.STATUS] == Outcome.DIVERGED]
    ok = group[group[Run.STATUS] != Outcome.DIVERGED][column].dropna()
    note = ""
    if len(diverged):
        where = ", ".join(str(int(e)) for e in sorted(set(diverged[Run.DIVERGED_EPOCH])))
        note = f"diverged @ epoch {where}"
        if len(group) > 1:
            note = f"{len(diverged)}/{len(group)} {note}"
        if len(ok):
            note = f"; {note}"
    if not len(ok):
        return note or "–"
    scale = 100 if percent else 1
    fmt = "{:.2f}" if percent else "{:.4f}"
    if len(ok) == 1:
        return fmt.format(ok.iloc[0] * scale) + note
    return f"{fmt.format(ok.mean() * scale)} ± {fmt.format(ok.std(ddof=1) * scale)} ({len(ok)})" + note


def study_table(runs: pd.DataFrame, axes: list[str], chosen: list[str] = ()) -> pd.DataFrame:
    """Long-form, a page wide: one row per model / dataset (SE as part of the model name, as the
    study), other grid axes and activation; columns each metric's mean ± std (n) over seeds (as
    `METRICS` name them: runs.parquet's columns), the mean training time per run, where it ran, and
    the most epochs a run did where one stopped early, errored or is unfinished. `chosen`: fields a search chose."""
    keys = row_keys(axes)
    rows = []
    for values, group in runs.groupby([*keys, "activation"], sort=True, dropna=False):  # NaN: an axis some grids leave unset
        key = dict(zip(keys, values))
        row = {"model": ("SE-" if key["se"] else "") + key["model"], "dataset": key["dataset"],
               **{k: v for k, v in key.items() if k not in (*ROW_KEYS, *OWN_COLUMNS)}, "activation": values[-1]}
        for field in chosen:
            row[f"chosen {field}"] = ", ".join(f"{v:.3g}" for v in sorted(set(group[field]))) or "–"
        for name, column, split, percent in METRICS:  # test_acc is NaN ("–") without a test split
            row[f"{name} {split}"] = seeds_cell(group, column, percent)
        row["time"] = group[Run.TRAIN_TIME_S].mean()
        row["device"] = " ".join([", ".join(sorted(set(group[Key.DEVICE].dropna()))) or "?",
                                  ", ".join(sorted(set(group[Key.PRECISION].dropna()))) or "?"])
        row["epochs done"] = int(group[Run.EPOCHS_DONE].max())
        # a diverged run's cell names its epoch; one stopped early, errored or unfinished does not
        row["_stopped"] = bool((~group[Run.STATUS].isin([Outcome.COMPLETED, Outcome.DIVERGED])).any())
        rows.append(row)
    table = pd.DataFrame(rows)
    if len(table):
        table["time"] = durations(table["time"].tolist())
    stopped = table.pop("_stopped").any() if len(table) else False
    return table if stopped else table.drop(columns="epochs done", errors="ignore")  # every run to its end: nothing to say


def test_table(runs: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """The headline: the final model's test accuracy (%), mean ± std (n) over seeds, one row per
    data / model / setting and one column per activation with and without SE."""
    keys = [k for k in row_keys(axes) if k != "se"]
    activations = list(dict.fromkeys(runs["activation"]))
    rows = []
    for values, group in runs.groupby(keys, sort=True, dropna=False):
        key = dict(zip(keys, values))
        rows.append({
            **{k: v for k, v in key.items() if k not in OWN_COLUMNS},
            "train images": ", ".join(f"{int(r):,}" for r in sorted(set(group[Run.TRAIN_ROWS].dropna()))) or "?",
            "epochs": int(group["epochs"].max()),
            **{f"{act}{' + SE' if se else ''}": seeds_cell(group[(group["activation"] == act) & (group["se"] == se)], Key.TEST_ACC, True)
               for se in (False, True) for act in activations},
            Key.DEVICE: ", ".join(sorted(set(group[Key.DEVICE].dropna()))),
        })
    table = pd.DataFrame(rows)
    return table.loc[:, (table != "–").any()]  # no column for a combination never run


PAGE_COLUMNS = 12  # the most columns a table of summary.md or report.html has: wider is beyond a page


def to_markdown(table: pd.DataFrame, keys: int = 2, bold: pd.Series | None = None) -> str:
    """A markdown table, every cell shown as its text; one wider than a page is split into tables
    of PAGE_COLUMNS, each starting with the first `keys` columns that name a row. `bold`: the rows
    whose first cell is a title, in bold."""
    columns = list(table.columns)
    width = PAGE_COLUMNS - keys
    parts = [columns[keys:][i:i + width] for i in range(0, max(len(columns) - keys, 1), width)]
    out = []
    for part in parts:
        header = columns[:keys] + part
        lines = ["| " + " | ".join(map(markup.text, header)) + " |", "|" + "---|" * len(header)]
        titles = bold.tolist() if bold is not None else [False] * len(table)
        lines += ["| " + " | ".join(f"**{markup.text(v)}**" if i == 0 and title and v else markup.text(v) for i, v in enumerate(row)) + " |"
                  for row, title in zip(table[header].itertuples(index=False), titles)]
        out.append("\n".join(lines))
    return "\n\n".join(out)


def to_latex(table: pd.DataFrame) -> str:
    """A tabular for a paper (booktabs rules), every cell and header escaped: `simple_cnn` and
    `acc %` are an error and a comment to LaTeX as they are."""
    return table.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1).to_latex(hrules=True)


def devices(runs: pd.DataFrame, axes: list[str]) -> pd.DataFrame:
    """Cells that ran on more than one device (or precision) with every other setting the same:
    the difference in best valid accuracy (points) from the first device's runs, against what the
    seeds' spread explains (Welch's 95% interval). Not an effect of the engine: the runs are not
    paired by seed and nothing is decided at a stated rate; docs/statistics.md says so."""
    keys = [a for a in axes if a not in ("seed", *OWN_COLUMNS)] + ["activation"]
    keys = list(dict.fromkeys(keys))
    rows = []
    ok = runs[runs[Run.STATUS] != Outcome.DIVERGED].assign(on=runs[Key.DEVICE].fillna("?") + " " + runs[Key.PRECISION].fillna("?"))
    for values, group in ok.groupby(keys, sort=True, dropna=False):
        sides = sorted(group["on"].unique())
        for other in sides[1:]:
            a = group.loc[group["on"] == sides[0], Run.MAX_VALID_ACC].dropna().to_numpy() * 100
            b = group.loc[group["on"] == other, Run.MAX_VALID_ACC].dropna().to_numpy() * 100
            rows.append({**dict(zip(keys, values)), "first": sides[0], "second": other, "n_first": len(a), "n_second": len(b),
                         "mean_first": a.mean(), "mean_second": b.mean(), **_welch(b, a)})
    return pd.DataFrame(rows)


def _welch(b: np.ndarray, a: np.ndarray) -> dict:
    diff = float(b.mean() - a.mean())
    if len(a) < 2 or len(b) < 2:
        return {"diff": diff, "ci_low": math.nan, "ci_high": math.nan, "verdict": "too few seeds to judge (needs 2 on each side)"}
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        low = high = diff
    else:
        df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
        half = float(stdtrit(df, 0.975) * se)
        low, high = diff - half, diff + half
    beyond = low > 0 or high < 0
    return {"diff": diff, "ci_low": low, "ci_high": high,
            "verdict": "**beyond what seeds explain** (95% CI excludes 0)" if beyond else "within the seeds' spread"}


def devices_markdown(dev: pd.DataFrame) -> str:
    if dev.empty:
        return "No cell ran on two devices or precisions with the same settings."
    keys = [c for c in dev.columns if c not in ("first", "second", "n_first", "n_second", "mean_first", "mean_second", "diff", "ci_low", "ci_high", "verdict")]
    lines = ["| cell | first | valid acc % (n) | second | valid acc % (n) | Δ (points) | 95% CI | verdict |", "|---|---|---|---|---|---|---|---|"]
    for r in dev.to_dict("records"):
        cell = row_title({k: r[k] for k in keys if k != "activation"}) + f", {r['activation']}"
        ci = "–" if math.isnan(r["ci_low"]) else f"[{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"
        lines.append(f"| {markup.text(cell)} | {markup.text(r['first'])} | {r['mean_first']:.2f} ({r['n_first']}) | {markup.text(r['second'])} | "
                     f"{r['mean_second']:.2f} ({r['n_second']}) | "
                     f"{r['diff']:+.2f} | {ci} | {r['verdict']} |")
    return "\n".join(lines)
