"""Adaptive seeds on a real local Ray, on digits: a large effect stops at `start` while a zero one
runs to `max`, the arms of every effect run the same seeds, a driver killed mid-sweep resumes
without rerunning a finished seed and ends with the same verdicts, a study report keeps an
adaptive sweep's verdicts, an anytime sweep grows when its max is raised, a `compare:` on the
model axis decides at its first look, and the default (sign-flip) runs the seeds before its first
possible verdict at once and decides there."""

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

from se_train.errors import UserError
from se_train.report.collect import collect
from se_train.report.status import status
from se_train.report.summary import write_report
from se_train.sweep.runner import _check_growth
from se_train.sweep_file import parse_sweep
from tests.helpers import run_with_hang_guard, se_sweep_here, trial_progress, wait_for

pytestmark = pytest.mark.ray

CELL = {"model": ["simple_cnn"], "dataset": ["digits"], "epochs": [1]}
GRIDS = [
    # After one epoch at lr 1e-3, SELU leads ReLU by ~19 points (sd ~4 over seeds): decided at start.
    {**CELL, "activation": ["relu", "selu"], "se": [False], "lr": [1e-3]},
    # At lr 1e-7 nothing learns in an epoch: SE against no SE is a zero effect, open until max.
    {**CELL, "activation": ["relu"], "se": [False, True], "lr": [1e-7]},
]
START, MAX = 4, 6


def _sweep(tmp_path: Path, name: str, resources: dict | None = None, **changes) -> Path:
    raw = {
        "name": name,
        "data_root": str(tmp_path.parent / "data"),  # prepared once for the module
        "storage": str(tmp_path / "experiments"),
        "grid": GRIDS,
        "train": {"schedule": "constant"},
        # the t boundary: its first looks can stop at START (the searcher's mechanics); sign-flip has its own test
        "seeds": {"start": START, "max": MAX, "margin": 0.01, "method": "fixed-horizon"},
        "resources": {"workers_per_trial": 1, "cpus_per_worker": 1, **(resources or {})},
        **changes,
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
    # verdict, estimate, final interval, per-seed sd, seeds taken: better at 4 (an interval above 0), open at 6
    assert re.search(r"\| SELU - ReLU \| simple_cnn \| digits \| epochs=1, lr=0.001, se=False \| \+[\d.]+ \| \[\+[\d.]+, \+[\d.]+\] \| [\d.]+ \| 4 \| \d of 4, P\(ahead\) [\d.]+ \| \*\*better\*\* \|", summary)
    assert re.search(r"\| SE - no SE \| simple_cnn \| digits \| activation=relu, epochs=1, lr=1e-07 \| [−+][\d.]+ \| \[−[\d.]+, \+[\d.]+\] \| [\d.]+ \| 6 \| \d of 6, P\(ahead\) [\d.]+ \| \*\*unresolved at max\*\* \|", summary)
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
    code, _, err = se_sweep_here("resume", str(experiment), "--address", address)
    assert code == 0, err[-3000:]
    assert {k: (experiment / k / "progress.csv").read_text() for k in finished} == before  # not rerun
    assert _seeds(experiment) == _seeds(adaptive)  # no seed twice, none missing
    whole = write_report([str(adaptive)], tmp_path / "whole")
    resumed = write_report([str(experiment)], tmp_path / "resumed")
    columns = ["effect", "cell", "verdict", "seeds", "n", "mean", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(_effects(resumed)[columns], _effects(whole)[columns])


def _effects(report: Path) -> pd.DataFrame:
    return pd.read_csv(report / "effects.csv").sort_values(["effect", "cell"]).reset_index(drop=True)


def test_a_study_report_keeps_the_adaptive_sweeps_verdicts_and_intervals(adaptive, tmp_path):
    # A fixed-seed sweep over the zero effect's cells (seeds 4-7: two the adaptive sweep ran, two it
    # never did) and over two cells of its own. The study must not re-analyse the adaptive effects
    # with a fixed-n interval: the same verdicts, seeds and intervals as the sweep's own report.
    fixed = _sweep(tmp_path, "fixed", grid=[
        {**CELL, "activation": ["relu"], "se": [False, True], "lr": [1e-7], "seed": [4, 5, 6, 7]},
        {**CELL, "activation": ["relu", "selu"], "se": [False], "lr": [1e-2], "seed": [0, 1]},
    ], seeds=None)
    experiment = run_with_hang_guard(fixed)
    alone = _effects(write_report([str(adaptive)], tmp_path / "alone"))
    study = write_report([str(adaptive), str(experiment)], tmp_path / "study")
    pooled = _effects(study)
    columns = ["effect", "cell", "verdict", "seeds", "n", "mean", "ci_low", "ci_high", "method"]
    kept = pooled[pooled["adaptive"]].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept[columns], alone[columns])
    (own,) = pooled[~pooled["adaptive"]].itertuples()  # the fixed sweep's own SELU effect, at lr 1e-2
    assert own.method == "fixed n, t-interval 95%" and own.seeds == 2 and "lr=0.01" in own.cell
    summary = (study / "summary.md").read_text()
    assert "repeated t-intervals for the planned looks at 4..6 seeds" in summary and "Student t interval at 95% per effect" in summary


def test_an_anytime_sweep_grows_when_its_max_is_raised(ray_cluster, tmp_path):
    # Anytime, 2 effects at 97.5%: the large effect is decided at 5 seeds (the first bounded look),
    # the zero one is unresolved at 5. Raised to 6, only the zero effect's cells run seed 5.
    path = _sweep(tmp_path, "grow", seeds={"start": START, "max": 5, "margin": 0.01, "method": "anytime"})
    experiment = run_with_hang_guard(path)
    assert set(map(tuple, _seeds(experiment).values())) == {tuple(range(5))}
    before = {k: df for k, df in trial_progress(experiment).items()}
    raw = yaml.safe_load(path.read_text())
    raw["seeds"]["max"] = 6
    path.write_text(yaml.safe_dump(raw))
    assert run_with_hang_guard(path) == experiment
    assert _seeds(experiment) == {
        ("relu", False, 1e-3): list(range(5)), ("selu", False, 1e-3): list(range(5)),
        ("relu", False, 1e-7): list(range(6)), ("relu", True, 1e-7): list(range(6)),
    }
    after = trial_progress(experiment)
    assert all(after[k].equals(df) for k, df in before.items())  # nothing finished ran again
    eff = _effects(write_report([str(experiment)], tmp_path / "report")).set_index("effect")
    assert eff.loc["SELU - ReLU", "verdict"] == "better" and eff.loc["SELU - ReLU", "seeds"] == 5
    assert eff.loc["SE - no SE", "verdict"] == "unresolved at max" and eff.loc["SE - no SE", "seeds"] == 6
    assert "anytime, seeds 4-6" in eff.loc["SE - no SE", "method"]
    # Under fixed-horizon the boundary holds only for its planned looks: growing is refused.
    fixed = _sweep(tmp_path, "grow", seeds={"start": START, "max": 7, "margin": 0.01, "method": "fixed-horizon"})
    with pytest.raises(UserError, match="only seeds.max may grow"):
        run_with_hang_guard(fixed)
    raw["seeds"]["max"] = 7
    raw["seeds"]["method"] = "fixed-horizon"
    refused = parse_sweep(raw, "grow.yaml")
    with pytest.raises(UserError, match="only an anytime sweep can grow"):
        _check_growth(refused.model_copy(update={"seeds": refused.seeds.model_copy(update={"max": 6})}), refused, "grow.yaml", "e")


def test_a_comparison_of_two_models_decides_at_its_first_look(ray_cluster, tmp_path):
    # One epoch on digits: the SimpleCNN reaches ~80% valid accuracy, ResNet-50 ~10% (results/smoke):
    # a difference of tens of points, decided at 3 seeds, the first look.
    path = _sweep(tmp_path, "models", grid={**CELL, "model": ["simple_cnn", "resnet50"], "activation": ["relu"], "se": [False], "lr": [1e-3]},
                  seeds={"start": 3, "max": 5, "margin": 1.0, "method": "fixed-horizon"},
                  compare=[{"axis": "model", "treated": "resnet50", "control": "simple_cnn"}])
    experiment = run_with_hang_guard(path)
    runs = collect(str(experiment)).runs
    assert sorted(runs["seed"]) == [0, 0, 1, 1, 2, 2]  # no seed past the first look
    (row,) = _effects(write_report([str(experiment)], tmp_path / "report")).itertuples()
    assert (row.effect, row.verdict, row.seeds) == ("model: resnet50 - simple_cnn", "worse", 3)
    assert row.ci_high < 0 and "fixed-horizon, seeds 3-5" in row.method
    assert "effects: 1 (1 worse); open: none" in status(str(experiment))


def test_the_default_sign_flip_runs_every_seed_before_its_first_look_at_once_and_decides_there(ray_cluster, tmp_path):
    # One effect at 95%, seeds 3-8: no sign pattern of fewer than 7 seeds reaches its level, so the
    # sweep queues seeds 0-6 of both cells at once (no look before could stop anything) and SELU's
    # ~19-point lead after an epoch, ahead on every seed, is decided at 7.
    from se_train.result import Method
    from se_train.rule import Rule

    first = Rule(Method.SIGN_FLIP, 3, 8, 1.0, 0.05).looks_from
    assert first == 7
    path = _sweep(tmp_path, "signs", grid={**CELL, "activation": ["relu", "selu"], "se": [False], "lr": [1e-3]},
                  seeds={"start": 3, "max": 8, "margin": 1.0})
    experiment = run_with_hang_guard(path)
    assert set(map(tuple, _seeds(experiment).values())) == {tuple(range(first))}
    (row,) = _effects(write_report([str(experiment)], tmp_path / "report")).itertuples()
    assert (row.effect, row.verdict, row.seeds) == ("SELU - ReLU", "better", first)
    assert row.method.startswith("sign-flip, seeds 3-8") and row.step == pytest.approx(100 / 300)  # digits: 300 valid images
