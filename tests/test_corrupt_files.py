"""Files se-sweep wrote and reads back, corrupted every way a disk, a kill or a hand edit can:
`status`, `report` and `resume` either read what is still good or refuse in one line (exit 2)
that names the file, writing nothing; never a traceback. The cases are generated from the files
an experiment and a report hold, so a file added later is reached without editing this test."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from se_train.bench.report import fake_experiment
from se_train.cli import main
from se_train.sweep import runner

READ_BACK = (".json", ".parquet")  # what se-sweep reads back from its folders (figures, csv and md it only writes)
# Files whose damage leaves nothing to go on: refused, never read around.
VITAL = ("sweep.json", "sources.json", "runs.parquet", "epochs.parquet", "experiment_state-")


def _wrong_parquet(path: Path) -> None:
    pq.write_table(pa.table({"x": [1, 2]}), path)


VARIANTS = {
    "empty": lambda p: p.write_bytes(b""),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: max(1, p.stat().st_size // 2)]),
    "random bytes": lambda p: p.write_bytes(np.random.default_rng(0).bytes(64)),
    "a JSON list": lambda p: p.write_text("[1, 2]"),
    "a JSON object of the wrong shape": lambda p: p.write_text('{"x": 1}'),
    "a JSON string": lambda p: p.write_text('"x"'),
    "Parquet of the wrong shape": _wrong_parquet,
    "a folder": lambda p: (p.unlink(), p.mkdir()),
}


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("written")
    experiment = root / "exp"
    fake_experiment(experiment, {"model": ["simple_cnn"], "activation": ["relu", "selu"], "se": [False], "seed": [0]}, 2,
                    np.random.default_rng(0))
    (experiment / "mlflow_gaps.json").write_text('{"exp_00000": 1}')
    assert main(["report", str(experiment), "--out", str(root / "report")]) == 0
    return {"experiment": experiment, "report": root / "report"}


COMMANDS = {"experiment": (["status"], ["report", "--out", "{out}"], ["resume"]), "report": (["report", "--out", "{out}"],)}


def _fingerprint(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def _read_back(folder: Path) -> list[str]:
    return [str(p.relative_to(folder)) for p in sorted(folder.rglob("*")) if p.is_file() and p.suffix in READ_BACK]


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_corrupted_file_is_read_around_or_refused_in_one_line(folders, variant, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    cases = [(kind, name) for kind in COMMANDS for name in _read_back(folders[kind])]
    assert len(cases) >= 8  # sweep.json, Tune's state, result.json, gaps; sources.json, runs and epochs tables
    for kind, name in cases:
        folder = tmp_path / kind / name.replace("/", "_")
        shutil.copytree(folders[kind], folder)
        VARIANTS[variant](folder / name)
        before = _fingerprint(folder)
        for command in COMMANDS[kind]:
            out = tmp_path / "out"
            capsys.readouterr()
            args = [command[0], str(folder), *(a.format(out=out) for a in command[1:])]
            code = main(args)  # a traceback would raise here
            err = capsys.readouterr().err
            vital = any(Path(name).name.startswith(v) for v in VITAL) and command[0] != "resume"
            if code == 2:
                assert err.startswith("se-sweep: error: ") and err.count("\n") == 1, (args, err)
                assert not out.exists(), f"{args}: refused, yet wrote {out}"
            else:
                assert code == 0 and not vital, f"{args}: {name} as {variant} was read as if it were whole"
            shutil.rmtree(out, ignore_errors=True)
            assert _fingerprint(folder) == before, f"{args} changed {folder}"
