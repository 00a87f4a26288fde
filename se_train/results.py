"""`se_train.load`: an experiment, a report's folder or a bucket's, or a study of several, opened
in Python as one typed object, the way `se-sweep report` reads them (the same merge, the same
effect engine), so a notebook and a report never disagree.

    import se_train
    r = se_train.load("experiments/smoke")          # or "results/study", "s3://bucket/experiments/x", several
    r.runs          # one row per trial: its cell, outcome, best and final accuracies (runs.parquet)
    r.epochs        # one row per trial and epoch (epochs.parquet)
    r.effects       # one row per effect: estimate, interval, per-seed sd, verdict, seeds, method
    r.pairs         # the paired differences every verdict rests on (pairs.parquet)
    r.sweeps[0].spec.seeds   # each sweep's record, as sweep.json holds it
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from se_train.experiment import SweepRecord
from se_train.report import merge
from se_train.report.effects import effects


@dataclass(frozen=True)
class Results:
    sweeps: list[SweepRecord]  # each input's sweep.json (a study: one per experiment)
    axes: list[str]  # what tells runs apart: the grid axes, then settings that vary
    runs: pd.DataFrame
    epochs: pd.DataFrame
    effects: pd.DataFrame  # `report.effects.COLUMNS`, each effect's looks in `looks`
    pairs: pd.DataFrame  # `report.effects.PAIR_COLUMNS`
    methods: list[str]  # each decision rule used, in a paragraph, as the report prints it
    repeats: list[str]  # runs that two inputs shared, counted once (a line per pair of inputs)
    notes: list[str]  # what had to be left out, e.g. a result line cut short by a kill

    @property
    def record(self) -> SweepRecord:
        """The sweep.json of one experiment (a study's first)."""
        return self.sweeps[0]


def load(*locations: str) -> Results:
    """Open one or more experiment or report folders (local or a URI), as `se-sweep report` does:
    the report is written from this object."""
    if not locations:
        raise TypeError("load() needs at least one experiment or report folder")
    exp, repeats = merge.load([str(location) for location in locations])
    eff, methods, pairs = effects(exp)
    return Results(list(exp.sources), exp.axes, exp.runs, exp.epochs, eff, pairs, methods, repeats, exp.notes)
