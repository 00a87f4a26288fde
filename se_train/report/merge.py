"""Many experiments, or earlier reports, read as one study: the rules by which runs pool.

A run is identified by what it measured: its cell (dataset, model, SE, activation), every setting
that can change its numbers (`collect.SETTINGS`: epochs, batch size, lr and schedule, inputs, image
size, the training split's rows, ...; and a model's own options), the precision it ran at and its
device. Its seed is one sample of that.
- Runs that agree on all of it pool their seeds, whichever input they came from.
- Where a setting differs within a cell, it becomes a column of the tables (`Experiment.axes`), so
  runs of different settings are never averaged together and each row shows its value.
- The same run twice (the same identity and seed in two inputs) is kept once, from the input
  named first; both inputs are named.
"""

from __future__ import annotations

import pandas as pd

from se_train.report.collect import CELL, SETTINGS, Experiment, read
from se_train.result import Key, Run

def identity(options: list[str]) -> list[str]:
    """What identifies a run, with the models' own options the inputs set."""
    return [*CELL, *SETTINGS, *options, Key.DEVICE]


RULES = (
    "Runs pool their seeds where they agree on the cell, every setting that can change their numbers "
    "(epochs, batch size, optimizer, lr and schedule, inputs, image size, the training split's rows, ...), "
    "the precision and the device, whichever input they came from. Where one of these differs within a cell, "
    "it is a column of the tables and the runs are separate rows. The same run in two inputs (same cell, "
    "settings, device and seed) is counted once, from the input named first."
)


def load(locations: list[str]) -> tuple[Experiment, list[str]]:
    """The inputs as one Experiment, and a line for each pair of inputs that shared runs."""
    parts = [(location, read(location)) for location in locations]
    # Inputs are told apart by position: the same folder named twice is two inputs.
    runs = pd.concat([exp.runs.assign(_input=i) for i, (_, exp) in enumerate(parts)], ignore_index=True)
    options = list(dict.fromkeys(o for _, exp in parts for r in exp.sources for o in r.spec.own_options()))
    runs, repeats = _drop_repeats(runs, locations, identity(options))
    axes = list(dict.fromkeys(a for _, exp in parts for a in exp.axes))
    axes += _varying(runs, axes, identity(options))
    epochs = pd.concat([exp.epochs for _, exp in parts], ignore_index=True)
    if not epochs.empty:
        # Only the kept runs' epochs, each with every axis of its run (a setting that varies
        # across inputs is a column of runs only, until here).
        by_run = [Run.EXPERIMENT, Run.TRIAL_ID]
        epochs = epochs.drop(columns=[a for a in axes if a in epochs]).merge(runs[[*by_run, *axes]], on=by_run)
    sources = list({(r.experiment, r.started): r for _, exp in parts for r in exp.sources}.values())
    notes = [n for _, exp in parts for n in exp.notes]
    return Experiment(sources, axes, epochs, runs.drop(columns="_input"), notes), repeats


def _text(frame: pd.DataFrame) -> pd.DataFrame:
    """Each value as text that compares equal across inputs: None and NaN are one missing value,
    and 28 read from one file equals 28.0 read from another."""

    def one(v) -> str:
        if v is None or (isinstance(v, float) and v != v):
            return ""
        if isinstance(v, float) and v.is_integer():
            return str(int(v))
        return str(v)

    return frame.map(one)


def _drop_repeats(runs: pd.DataFrame, locations: list[str], identity: list[str]) -> tuple[pd.DataFrame, list[str]]:
    key = _text(runs.reindex(columns=[*identity, "seed"])).agg("\x1f".join, axis=1)
    first_input = runs.groupby(key, sort=False)["_input"].transform("first")
    repeated = runs["_input"] != first_input
    lines = []
    for (dropped, kept), group in runs[repeated].groupby([runs.loc[repeated, "_input"], first_input[repeated]], sort=False):
        dropped, kept = locations[dropped], locations[kept]
        lines.append(f"`{dropped}`: {len(group)} run(s) also in `{kept}` (same cell, settings, device and seed): counted once, from `{kept}`")
    return runs[~repeated].reset_index(drop=True), lines


def _varying(runs: pd.DataFrame, axes: list[str], identity: list[str]) -> list[str]:
    """The settings (and the device) that take more than one value within some cell of the grid."""
    cell = [*CELL, *(a for a in axes if a not in (*CELL, "seed"))]
    candidates = [c for c in identity if c not in cell]
    text = _text(runs.reindex(columns=cell + candidates))
    counts = text.groupby(cell, sort=False)[candidates].nunique()
    return [c for c in candidates if (counts[c] > 1).any()]
