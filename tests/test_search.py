"""`search:` in a sweep file: tune each cell on valid, then compare every cell at its own best
over fresh seeds. Parsing and the draws without Ray; the two stages on a real local Ray."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pytest

from se_train.blocks import Resources

from se_train.trial_config import TrialConfig
from se_train.sweep_file import parse_sweep
from se_train.data.prepare import prepare
from se_train.errors import UserError
from se_train.report.collect import collect
from se_train.report.status import status
from se_train.report.summary import write_report
from se_train.sweep.search import pick, search_spec, settings
from se_train.train.loop import fit
from tests.helpers import run_with_hang_guard, se_sweep_here, sweep_file, trial_progress, wait_for
from tests.test_loop import _recording_session

GRID = {"model": ["simple_cnn"], "dataset": ["digits"], "activation": ["relu", "selu"], "se": [False], "seed": [0, 1]}
SEARCH = {"lr": {"loguniform": [1.0e-4, 1.0e-2]}, "samples": 3, "epochs": 1, "seeds": [100]}


def _spec(search: dict, grid: dict | None = None, train: dict | None = None):
    return parse_sweep({"name": "s", "grid": grid or GRID, "train": train or {}, "search": search}, "s.yaml")


@pytest.mark.parametrize("change, error", [
    ({"lx": {"uniform": [0, 1]}}, "s.yaml: search.lx: unknown field (a search tunes one of lr, weight_decay, momentum, decay_rate)"),
    ({"lr": {"loguniform": [1e-2, 1e-4]}}, "s.yaml: search.lr.loguniform: low 0.01 is not below high 0.0001"),
    ({"weight_decay": {"loguniform": [0, 1e-2]}}, "s.yaml: search.weight_decay.loguniform: low 0.0 must be above 0 on a log scale"),
    ({"lr": {"normal": [0, 1]}}, "s.yaml: search.lr.normal: unknown distribution (one of loguniform, uniform, choice)"),
    ({"lr": {"uniform": [1e-3]}}, "s.yaml: search.lr.uniform: give [low, high]"),
    ({"lr": {"choice": [1e-3, "big"]}}, "s.yaml: search.lr.choice[1]: Input should be a valid number, not 'big'"),
    ({"momentum": {"uniform": [0.5, 1.5]}}, "s.yaml: search.momentum.uniform[1]: Input should be less than 1"),
    ({"samples": 0}, "s.yaml: search.samples: Input should be greater than or equal to 1"),
    ({"seeds": [1]}, "s.yaml: search.seeds: [1] also seed the comparison; a search's seeds must be its own"),
    ({"seeds": [100, -1]}, "s.yaml: search.seeds[1]: Input should be greater than or equal to 0"),
    ({"lr": None}, "s.yaml: search: no field to search"),
])
def test_bad_search_blocks_are_one_line_errors(change, error):
    block = {k: v for k, v in {**SEARCH, **change}.items() if v is not None}
    with pytest.raises(UserError) as e:
        _spec(block)
    assert str(e.value).startswith(error)


def test_a_searched_field_set_elsewhere_is_refused():
    with pytest.raises(UserError, match=r"^s.yaml: search.lr: also a grid axis; search it or list it, not both$"):
        _spec(SEARCH, grid={**GRID, "lr": [1e-3]})
    with pytest.raises(UserError, match=r"^s.yaml: search.lr: also set in train.lr; set it in one place$"):
        _spec(SEARCH, train={"lr": 1e-3})


def test_the_draws_cover_the_range_evenly_and_repeat():
    spec = _spec({**SEARCH, "samples": 8, "lr": {"loguniform": [1e-5, 1e-2]}})
    tried = settings(spec)
    assert tried == settings(spec)  # the same sweep file, the same settings
    # One draw in each of the 8 equal strata of the log range.
    strata = sorted(int((math.log10(t["lr"]) + 5) / (3 / 8)) for t in tried)
    assert strata == list(range(8))
    stage = search_spec(spec)
    assert len(stage.cells()) == 2 * 8  # every cell at every setting, on the one search seed
    assert {c["seed"] for c in stage.cells()} == {100} and stage.fixed()["epochs"] == 1 and stage.fixed()["test_split"] is False


def test_the_best_eligible_try_wins_and_ties_go_to_the_smaller_value():
    tries = [
        {"lr": 1e-4, "valid_acc": 0.90, "eligible": True},
        {"lr": 1e-3, "valid_acc": 0.95, "eligible": True},
        {"lr": 3e-3, "valid_acc": 0.95, "eligible": True},
        {"lr": 1e-2, "valid_acc": 0.99, "eligible": False},  # a seed diverged: it loses
    ]
    assert pick(tries)["lr"] == 1e-3
    assert pick([{"lr": 1e-2, "valid_acc": None, "eligible": False}]) is None


def test_a_try_with_test_split_off_never_reads_the_test_split(tmp_path):
    folder = prepare("digits", tmp_path)
    for shard in (folder / "test").glob("*.parquet"):
        shard.write_bytes(b"not parquet")  # any read of it fails
    cfg = TrialConfig(model="simple_cnn", dataset="digits", activation="relu", se=False, epochs=1, lr=1e-3, test_split=False)
    reports: list[dict] = []
    fit(cfg, folder, Resources(), _recording_session(reports))
    assert 0 < reports[-1]["valid_acc"] <= 1 and math.isnan(reports[-1].get("test_acc", math.nan))
    # The same trial reading its test split fails on the broken shard, named (not on the word
    # "test", which the temporary path holds too).
    with pytest.raises(UserError, match=re.escape(f"{folder / 'test' / 'part-00000.parquet'}: 11 bytes, manifest says")):
        fit(cfg.model_copy(update={"test_split": True}), folder, Resources(), _recording_session([]))


@pytest.mark.ray
def test_two_stages_choose_each_cells_best_and_compare_at_it(tmp_path, ray_cluster):
    path = sweep_file(tmp_path, "fair", {"activation": ["relu", "selu"], "seed": [0, 1]}, search=SEARCH)
    experiment = run_with_hang_guard(path)
    tries = collect(str(experiment / "search")).runs
    compared = collect(str(experiment)).runs
    chosen = json.loads((experiment / "chosen.json").read_text())
    assert len(tries) == 2 * 3 and set(tries["seed"]) == {100} and (tries["epochs_done"] == 1).all()
    assert tries["test_acc"].isna().all()  # the search never evaluated the test split
    assert len(compared) == 2 * 2 and set(compared["seed"]) == {0, 1} and (compared["epochs_done"] == 2).all()
    assert compared["test_acc"].between(0, 1).all()
    for cell in chosen["cells"]:
        act = cell["cell"]["activation"]
        mine = tries[tries["activation"] == act]
        assert cell["chosen"]["lr"] == mine.loc[mine["max_valid_acc"].idxmax(), "lr"]  # the best of its own tries
        assert sorted(t["lr"] for t in cell["tries"]) == sorted(mine["lr"])
        assert set(compared.loc[compared["activation"] == act, "lr"]) == {cell["chosen"]["lr"]}  # compared at it
    view = status(str(experiment))
    assert "stage 1, the search:" in view and "stage 2, the comparison" in view and "6 trials: 6 done" in view

    out = write_report([str(experiment)], tmp_path / "report")
    summary = (out / "summary.md").read_text()
    assert "| chosen lr |" in (out / "table.md").read_text()
    assert "## The search: each cell at its own best" in summary and "seeds the search never used" in summary
    assert (out / "search.png").stat().st_size > 0 and (out / "chosen.json").exists()
    # The comparison's effect pairs seeds 0 and 1 of the two cells, each at its own lr.
    assert "| SELU - ReLU | simple_cnn | digits | se=False | " in summary and "| 2 |" in summary


@pytest.mark.ray
def test_an_interrupted_search_resumes_without_rerunning_finished_tries(tmp_path, ray_cluster):
    address = ray_cluster.address_info["address"]
    path = sweep_file(tmp_path, "fairres", {"activation": ["relu", "selu"], "seed": [0]}, search=SEARCH,
                      resources={"max_concurrent_trials": 1})
    experiment = tmp_path / "experiments" / "fairres"
    cli = [sys.executable, "-m", "se_train.cli"]
    proc = subprocess.Popen([*cli, "run", str(path), "--address", address], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finished = wait_for(lambda: {k: df for k, df in trial_progress(experiment / "search").items() if len(df) == 1}, "a finished try")
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (experiment / "chosen.json").exists()
    assert "stage 2, the comparison at each cell's chosen setting:\nnot started" in status(str(experiment))
    before = {k: (experiment / "search" / k / "progress.csv").read_text() for k in finished}
    code, _, err = se_sweep_here("resume", str(experiment), "--address", address)
    assert code == 0, err[-3000:]
    assert {k: (experiment / "search" / k / "progress.csv").read_text() for k in finished} == before  # not rerun
    assert len(trial_progress(experiment / "search")) == 6 and len(trial_progress(experiment)) == 2
    assert all(len(c["tries"]) == 3 for c in json.loads((experiment / "chosen.json").read_text())["cells"])
    np.testing.assert_array_equal(sorted(collect(str(experiment)).runs["epochs_done"]), [2, 2])
