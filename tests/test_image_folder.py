"""Your own images: `se-sweep prepare imagefolder --source DIR --name NAME` turns a class-per-folder
tree into the same sharded Parquet as every dataset, and a sweep runs on it by name, your own
model from a plugin file too, with an effect decided and reported. The images are scikit-learn's
real 8x8 digits, written as PNG files one folder per class."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from se_train.cli import main
from tests.helpers import HANG_TIMEOUT_S, digits_as_png, sweep_file, trial_progress

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _only(root: Path, keep: str) -> Path:
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
    # kept as given: greyscale PNGs stay one channel and lossless, and their one size is recorded
    assert manifest["class_names"] == [f"digit{i}" for i in range(10)] and manifest["encoding"] == "image"
    assert (manifest["channels"], manifest["image_shape"]) == (1, [8, 8, 1]) and len(manifest["mean"]) == 1
    import pyarrow.parquet as pq

    shard = pq.read_table(data / "pngdigits" / manifest["splits"]["train"]["shards"][0]["file"])
    assert shard.column("image")[0].as_py().startswith(b"\x89PNG")  # the file's own bytes, not a JPEG
    assert rows == {"train": 1455, "valid": 162, "test": 180}  # 10% of the images for test, 10% of the rest for valid
    capsys.readouterr()
    assert main(["datasets", "--data-root", str(data)]) == 0
    assert "pngdigits             10 8x8x1 (PNG/JPEG as given)" in capsys.readouterr().out
    # one size for every image: a sweep needs no image_size (the model is built for 1 x 8 x 8)
    raw = {"name": "own", "data_root": str(data), "grid": {"model": ["simple_cnn"], "dataset": ["pngdigits"], "activation": ["relu"], "se": [False]}}
    (tmp_path / "own.yaml").write_text(yaml.safe_dump(raw))
    assert main(["run", str(tmp_path / "own.yaml"), "--dry-run"]) == 0


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


def _oddity(kind: str):
    """A tree of real digits with one file-system oddity of `kind` among digit3's images."""
    import os

    def make(root: Path) -> Path:
        digits_as_png(root, 5)
        where = root / "digit3"
        if kind == "loop":
            (where / "loop.png").symlink_to("loop.png")
        elif kind == "dangling":
            (where / "gone.png").symlink_to(root / "nowhere.png")
        elif kind == "fifo":
            os.mkfifo(where / "pipe.png")
        elif kind == "not utf-8":
            (Path(os.fsdecode(bytes(where) + b"/caf\xe9.png"))).write_bytes((where / os.listdir(where)[0]).read_bytes())
        elif kind == "class loop":
            (root / "digitX").symlink_to("digitX")
        return root
    return make


@pytest.mark.parametrize("kind, message", [
    ("loop", "digit3/loop.png: a symbolic link that loops"),
    ("dangling", "digit3/gone.png: a symbolic link to nothing"),
    ("fifo", "digit3/pipe.png: a named pipe (FIFO), not an image file"),
    ("not utf-8", "digit3/caf\\xe9.png: a name that is not UTF-8"),
    ("class loop", "src/digitX: a symbolic link that loops"),
])
def test_every_file_system_oddity_is_one_line_and_skip_bad_skips_and_counts_it(tmp_path, capsys, kind, message):
    source = _oddity(kind)(tmp_path / "src")
    data = tmp_path / "data"
    assert main(["prepare", "imagefolder", "--source", str(source), "--name", "odd", "--data-root", str(data), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "pass --skip-bad" in err and "Traceback" not in err, err
    assert main(["prepare", "imagefolder", "--source", str(source), "--name", "odd", "--data-root", str(data), "--workers", "1", "--skip-bad"]) == 0
    assert "odd: skipped 1 entries of" in capsys.readouterr().out
    manifest = json.loads((data / "odd" / "manifest.json").read_text())
    assert sum(i["rows"] for i in manifest["splits"].values()) == 50  # every real image, the odd entry left out


def test_your_own_model_runs_decides_and_reports_on_your_own_image_folder(pngs, tmp_path, ray_cluster):
    from se_train.report.status import status
    from se_train.report.summary import write_report

    assert main(["prepare", "imagefolder", "--source", str(pngs), "--name", "pngdigits", "--data-root", str(tmp_path / "data"), "--workers", "1"]) == 0
    shutil.copy(EXAMPLES / "my_models.py", tmp_path / "my_models.py")
    # The example's MLP at two widths (its own option `hidden`), compared over two seeds.
    grid = {"model": ["mlp"], "dataset": ["pngdigits"], "image_size": [16], "hidden": [16, 64], "seed": [0, 1]}
    path = sweep_file(tmp_path, "own", grid, train={"epochs": 3})
    raw = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**raw, "plugins": ["my_models.py"], "compare": [{"axis": "hidden", "treated": 64, "control": 16}]}))
    # As a user runs it on a Ray already up: se-sweep joins it, and its job ships the plugin to the
    # trials (test_plugins.py runs the worked example on a Ray that se-sweep starts).
    address = ray_cluster.address_info["address"]
    done = subprocess.run([sys.executable, "-m", "se_train.cli", "run", str(path), "--address", address],
                          capture_output=True, text=True, timeout=HANG_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    experiment = tmp_path / "experiments" / "own"
    view = status(str(experiment))
    assert "4 trials: 4 done" in view and "mlp pngdigits relu s1 hidden=64 " in view  # an axis beyond the cell is named
    progress = trial_progress(experiment)
    assert all(df["valid_acc"].iloc[-1] > 0.5 for df in progress.values())  # it learns real digits
    out = write_report([str(experiment)], tmp_path / "report")
    runs = pd.read_parquet(out / "runs.parquet")
    assert set(runs["dataset"]) == {"pngdigits"} and sorted(runs["hidden"]) == [16, 16, 64, 64] and (runs["status"] == "completed").all()
    (effect,) = pd.read_csv(out / "effects.csv").to_dict("records")
    assert effect["effect"] == "hidden: 64 - 16" and effect["n"] == 2
