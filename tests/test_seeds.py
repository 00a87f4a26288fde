"""Adaptive seeds on a real local Ray, on digits: a large effect stops at `start` while a zero one
runs to `max`, the arms of every effect run the same seeds, and a driver killed mid-sweep resumes
without rerunning a finished seed and ends with the same verdicts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from se_train.report.collect import collect
from se_train.report.status import status
from se_train.report.summary import write_report
from tests.helpers import HANG_TIMEOUT_S, run_with_hang_guard, trial_progress, wait_for

pytestmark = pytest.mark.ray

CELL = {"model": ["simple_cnn"], "dataset": ["digits"], "epochs": [1]}
GRIDS = [
    # After one epoch at lr 1e-3, SELU leads ReLU by ~19 points (sd ~4 over seeds): decided at start.
    {**CELL, "activation": ["relu", "selu"], "se": [False], "lr": [1e-3]},
    # At lr 1e-7 nothing learns in an epoch: SE against no SE is a zero effect, open until max.
    {**CELL, "activation": ["relu"], "se": [False, True], "lr": [1e-7]},
]
START, MAX = 4, 6


def _sweep(tmp_path: Path, name: str, resources: dict | None = None) -> Path:
    raw = {
        "name": name,
        "data_root": str(tmp_path.parent / "data"),  # prepared once for the module
        "storage": str(tmp_path / "experiments"),
        "grid": GRIDS,
        "train": {"schedule": "constant"},
        "seeds": {"start": START, "max": MAX, "margin": 0.01},
        "resources": {"workers_per_trial": 1, "cpus_per_worker": 1, **(resources or {})},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.fixture(scope="module")
def adaptive(ray_cluster, tmp_path_factory):
    root = tmp_path_factory.mktemp("seeds") / "whole"
    root.mkdir()
    return run_with_hang_guard(_sweep(root, "adaptive"))


def _seeds(experiment: Path) -> dict[tuple, list[int]]:
    runs = collect(str(experiment)).runs
    return {key: sorted(group["seed"]) for key, group in runs.groupby(["activation", "se", "lr"])}


def test_a_large_effect_stops_at_start_and_a_zero_effect_runs_to_max(adaptive, tmp_path, capsys):
    seeds = _seeds(adaptive)
    assert seeds == {
        ("relu", False, 1e-3): list(range(START)), ("selu", False, 1e-3): list(range(START)),
        ("relu", False, 1e-7): list(range(MAX)), ("relu", True, 1e-7): list(range(MAX)),
    }
    out = write_report([str(adaptive)], tmp_path / "report")
    summary = (out / "summary.md").read_text()
    # verdict, seeds taken, estimate and final interval: better at 4 (an interval above 0), open at 6
    assert re.search(r"\| SELU - ReLU \| simple_cnn \| digits \| epochs=1, lr=0.001, se=False \| \+[\d.]+ \| \[\+[\d.]+, \+[\d.]+\] \| 4 \| \*\*better\*\* \|", summary)
    assert re.search(r"\| SE - no SE \| simple_cnn \| digits \| activation=relu, epochs=1, lr=1e-07 \| [-+][\d.]+ \| \[-[\d.]+, \+[\d.]+\] \| 6 \| \*\*unresolved at max\*\* \|", summary)
    assert "split evenly over the sweep's 2 effect(s)" in summary and (out / "seeds.png").stat().st_size > 0
    view = status(str(adaptive))
    assert "effects: 2 (1 better, 1 unresolved at max); open: none" in view
    assert "simple_cnn digits selu lr=0.001 4, " in view and "simple_cnn digits relu SE lr=1e-07 6" in view


def test_both_arms_of_every_effect_run_the_same_seeds(adaptive):
    runs = collect(str(adaptive)).runs
    for lr, group in runs.groupby("lr"):
        arms = [sorted(arm["seed"]) for _, arm in group.groupby(["activation", "se"])]
        assert len(arms) == 2 and arms[0] == arms[1], (lr, arms)
    assert not runs.duplicated(["activation", "se", "lr", "seed"]).any()  # no seed ran twice
    assert (runs["status"] == "completed").all()


def test_a_killed_driver_resumes_without_rerunning_seeds_and_decides_the_same(adaptive, ray_cluster, tmp_path):
    address = ray_cluster.address_info["address"]
    root = tmp_path / "killed"
    root.mkdir()
    path = _sweep(root, "adaptive", resources={"max_concurrent_trials": 1})
    experiment = root / "experiments" / "adaptive"
    cli = [sys.executable, "-m", "se_train.cli"]
    proc = subprocess.Popen([*cli, "run", str(path), "--address", address], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Killed once the first added seed (seed START, the zero effect's) has started: the searcher's
    # queue and what it decided must come back with Tune's state.
    # (Trial folders are counted, not read: a file Tune is writing may still be empty.)
    started = lambda: len([p for p in experiment.glob("simple_cnn-*") if p.is_dir()]) if experiment.exists() else 0  # noqa: E731
    wait_for(lambda: started() > len(GRIDS) * 2 * START, "an added seed")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = {k: df for k, df in trial_progress(experiment).items() if len(df) == 1}
    before = {k: (experiment / k / "progress.csv").read_text() for k in finished}
    done = subprocess.run([*cli, "resume", str(experiment), "--address", address], capture_output=True, text=True, timeout=HANG_TIMEOUT_S)
    assert done.returncode == 0, done.stderr[-3000:]
    assert {k: (experiment / k / "progress.csv").read_text() for k in finished} == before  # not rerun
    assert _seeds(experiment) == _seeds(adaptive)  # no seed twice, none missing
    whole = write_report([str(adaptive)], tmp_path / "whole")
    resumed = write_report([str(experiment)], tmp_path / "resumed")
    columns = ["effect", "cell", "verdict", "seeds", "n", "mean", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(_effects(resumed)[columns], _effects(whole)[columns])


def _effects(report: Path) -> pd.DataFrame:
    return pd.read_csv(report / "effects.csv").sort_values(["effect", "cell"]).reset_index(drop=True)
