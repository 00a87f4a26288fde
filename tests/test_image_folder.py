"""Your own images: `se-sweep prepare imagefolder --source DIR --name NAME` turns a class-per-folder
tree into the same sharded Parquet as every dataset, and a sweep runs on it by name. The images are
scikit-learn's real 8x8 digits, written as PNG files one folder per class."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from se_train.cli import main
from tests.helpers import digits_as_png, run_with_hang_guard, sweep_file, trial_progress


def _only(root: Path, keep: str) -> Path:
    import shutil

    for folder in root.iterdir():
        if folder.name != keep:
            shutil.rmtree(folder)
    return root


@pytest.fixture(scope="module")
def pngs(tmp_path_factory) -> Path:
    return digits_as_png(tmp_path_factory.mktemp("png") / "digits")


def test_an_image_folder_is_prepared_with_stratified_valid_and_test(pngs, tmp_path, capsys):
    data = tmp_path / "data"
    assert main(["prepare", "imagefolder", "--source", str(pngs), "--name", "pngdigits", "--data-root", str(data), "--workers", "1"]) == 0
    manifest = json.loads((data / "pngdigits" / "manifest.json").read_text())
    rows = {split: info["rows"] for split, info in manifest["splits"].items()}
    assert manifest["class_names"] == [f"digit{i}" for i in range(10)] and manifest["encoding"] == "jpeg"
    assert rows == {"train": 1455, "valid": 162, "test": 180}  # 10% of the images for test, 10% of the rest for valid
    capsys.readouterr()
    assert main(["datasets", "--data-root", str(data)]) == 0
    assert "pngdigits             10 jpeg, sized by image_size" in capsys.readouterr().out


def test_an_image_folders_own_val_and_test_are_its_splits(tmp_path):
    source = tmp_path / "tree"
    for split, n in (("train", 20), ("val", 3), ("test", 4)):
        digits_as_png(source / split, per_class=n)
    assert main(["prepare", "imagefolder", "--source", str(source), "--name", "tree", "--data-root", str(tmp_path / "data"), "--workers", "1"]) == 0
    manifest = json.loads((tmp_path / "data" / "tree" / "manifest.json").read_text())
    assert {s: i["rows"] for s, i in manifest["splits"].items()} == {"train": 200, "valid": 30, "test": 40}


@pytest.mark.parametrize("make, args, message", [
    (lambda root: _only(digits_as_png(root, 5), "digit0"), ["--name", "one"], "1 class folder(s); a classifier needs at least two"),
    (lambda root: (digits_as_png(root, 5) / "digit9x").mkdir() or root, ["--name", "empty"], "digit9x: a class folder with no images"),
    (lambda root: digits_as_png(root, 5), ["--name", "digits"], "--name 'digits': give the dataset a plain name of its own"),
    (lambda root: digits_as_png(root, 5), [], "--name: give it with `prepare imagefolder`"),
])
def test_a_bad_image_folder_is_one_line(tmp_path, capsys, make, args, message):
    source = make(tmp_path / "src")
    assert main(["prepare", "imagefolder", "--source", str(source), *args, "--data-root", str(tmp_path / "data")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())


def test_a_sweep_runs_and_reports_on_your_own_image_folder(pngs, tmp_path, ray_cluster):
    from se_train.report.summary import write_report

    assert main(["prepare", "imagefolder", "--source", str(pngs), "--name", "pngdigits", "--data-root", str(tmp_path / "data"), "--workers", "1"]) == 0
    path = sweep_file(tmp_path, "own", {"dataset": ["pngdigits"], "se": [False, True], "image_size": [16]}, train={"epochs": 2})
    experiment = run_with_hang_guard(path)
    progress = trial_progress(experiment)
    assert len(progress) == 2 and all(df["valid_acc"].iloc[-1] > 0.5 for df in progress.values())  # it learns real digits
    out = write_report([str(experiment)], tmp_path / "report")
    runs = pd.read_parquet(out / "runs.parquet")
    assert set(runs["dataset"]) == {"pngdigits"} and (runs["status"] == "completed").all()
    assert "| SE - no SE | simple_cnn | pngdigits |" in (out / "summary.md").read_text()
