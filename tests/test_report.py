"""`se-sweep report` on a real experiment folder (made by a real sweep with diverged trials):
numbers equal those recomputed from the raw per-trial files, every output is written, and bad
paths give clear errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from se_train.cli import main
from se_train.errors import UserError
from se_train.report import tables
from se_train.report.collect import collect
from se_train.report.summary import write_report

OUTPUTS = [
    "summary.md", "table.md", "table.tex", "table.csv", "runs.parquet", "runs.csv", "epochs.parquet", "epochs.csv",
    "effects.csv", "curves.png", "curves.pdf", "heatmap.png", "heatmap.pdf", "effects.png", "effects.pdf",
]


@pytest.fixture(scope="module")
def report(diverging_experiment, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["report", str(diverging_experiment), "--out", str(out)]) == 0
    return out


def _raw_progress(experiment):
    """Each trial's progress.csv, read directly: the independent source for the checks."""
    rows = {}
    for p in experiment.glob("*/progress.csv"):
        params = json.loads((p.parent / "params.json").read_text())
        rows[(params["activation"], params["lr"])] = pd.read_csv(p)
    return rows


def test_every_output_is_written(report):
    for name in OUTPUTS:
        assert (report / name).stat().st_size > 0, name


def test_runs_table_matches_the_raw_progress_files(diverging_experiment, report):
    runs = pd.read_parquet(report / "runs.parquet")
    raw = _raw_progress(diverging_experiment)
    assert len(runs) == 4
    for r in runs.itertuples():
        progress = raw[(r.activation, r.lr)]
        if r.lr == 1e6:
            assert r.status == "diverged" and r.diverged_epoch == 1 and math.isnan(r.max_valid_acc)
        else:
            assert r.status == "completed" and r.epochs_done == 2
            assert r.max_valid_acc == pytest.approx(progress["valid_acc"].max())
            assert r.min_train_loss == pytest.approx(progress["train_loss"].min())
            assert r.best_epoch == int(progress.loc[progress["valid_acc"].idxmax(), "epoch"])
            assert r.train_time_s == pytest.approx(progress["epoch_time_s"].sum())
    epochs = pd.read_parquet(report / "epochs.parquet")
    assert len(epochs) == sum(len(df) for df in raw.values())


def test_study_table_cells(diverging_experiment, report):
    raw = _raw_progress(diverging_experiment)
    table = pd.read_csv(report / "table.csv")
    (row,) = table.itertuples(index=False)
    cells = dict(zip(table.columns, row))
    # Each activation has one completed (lr 1e-3) and one diverged (lr 1e6) run: the cell shows the
    # completed number and says the other diverged, with its epoch; never a NaN or "10%".
    for act in ("relu", "selu"):
        want = f"{raw[(act, 1e-3)]['valid_acc'].max() * 100:.2f}; 1/2 diverged @ epoch 1"
        assert cells[f"acc % valid {act}"] == want
    assert "nan" not in (report / "table.md").read_text().lower()
    summary = (report / "summary.md").read_text()
    assert "diverged at epoch 1" in summary and "last finite loss" in summary
    assert "one seed: no interval" in summary  # a single run is not evidence


def test_effect_interval_is_the_paired_t_interval():
    accs = {0: (0.90, 0.92), 1: (0.91, 0.935), 2: (0.89, 0.905)}  # seed: (relu, selu)
    runs = pd.DataFrame(
        [
            {"model": "m", "dataset": "d", "se": False, "seed": s, "activation": act, "status": "completed", "max_valid_acc": acc}
            for s, pair in accs.items()
            for act, acc in zip(("relu", "selu"), pair)
        ]
    )
    eff = tables.effects(runs, ["model", "dataset", "activation", "se", "seed"])
    (selu,) = eff[eff["effect"] == "SELU - ReLU"].itertuples()
    diffs = np.array([2.0, 2.5, 1.5])
    half = stats.t.ppf(0.975, 2) * diffs.std(ddof=1) / math.sqrt(3)
    assert selu.n == 3 and selu.mean == pytest.approx(2.0)
    assert (selu.ci_low, selu.ci_high) == pytest.approx((2.0 - half, 2.0 + half))
    assert "excludes 0" in selu.verdict


def test_not_an_experiment_and_empty_experiment_are_clear_errors(tmp_path, capsys):
    with pytest.raises(UserError, match="not an se-sweep experiment"):
        collect(str(tmp_path))
    (tmp_path / "sweep.json").write_text(json.dumps({"spec": {"name": "e", "grid": {"model": ["simple_cnn"]}}}))
    with pytest.raises(UserError, match="has no trials yet"):
        write_report(str(tmp_path), tmp_path / "out")
    assert main(["report", str(tmp_path / "nothing-here")]) == 2
    assert "not an se-sweep experiment" in capsys.readouterr().err
