"""Storage locations: paths and URIs joined and split with a URI's query kept at its end."""

from __future__ import annotations

import pyarrow.fs
import pytest
import yaml

from se_train import storage

ENDPOINT = "s3://bucket/exp?region=us-east-1&endpoint_override=http://127.0.0.1:9000"


def test_a_uris_query_stays_at_the_end_when_joined_and_split():
    path = storage.join(ENDPOINT, "sweep1", "sweep.json")
    assert path == "s3://bucket/exp/sweep1/sweep.json?region=us-east-1&endpoint_override=http://127.0.0.1:9000"
    assert storage.parent(storage.join(ENDPOINT, "sweep1")) == ENDPOINT
    fs, where = pyarrow.fs.FileSystem.from_uri(path)  # the form pyarrow (and so Ray) reads
    assert isinstance(fs, pyarrow.fs.S3FileSystem) and where == "bucket/exp/sweep1/sweep.json"


def test_local_paths_join_and_split_as_paths():
    assert storage.join("/data/exp/", "a", "b") == "/data/exp/a/b"
    assert storage.parent("/data/exp/a") == "/data/exp"
    assert storage.join("/odd?name", "a") == "/odd?name/a"  # a '?' in a local path is part of the name


@pytest.mark.parametrize("field, where, says", [
    ("storage", "xyz://bucket/x", "no storage handles this"),
    ("data_root", "xyz://bucket/x", "no storage handles this"),
    # Nobody listens there: pyarrow's retries take ~6 s, so one field (both go through storage.check_folder).
    ("data_root", "s3://se-sweep-absent/x?region=us-east-1&endpoint_override=http://127.0.0.1:1", "cannot be reached"),
])
def test_a_place_in_a_sweep_file_that_cannot_be_used_is_one_line_naming_its_field(tmp_path, capsys, monkeypatch, field, where, says):
    from se_train.cli import main

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")  # no credential lookup: the endpoint is what fails
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    path = tmp_path / "bad.yaml"
    other = {"storage": str(tmp_path / "experiments"), "data_root": str(tmp_path / "data")}
    path.write_text(yaml.safe_dump({"name": "bad", **other, field: where,
                                    "grid": {"model": ["simple_cnn"], "dataset": ["digits"], "activation": ["relu"], "se": [False]}}))
    assert main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"se-sweep: error: {path}: {field}: {where}: {says}") and err.count("\n") == 1, err
    assert not list(tmp_path.glob("*/*"))  # nothing written, nothing prepared
