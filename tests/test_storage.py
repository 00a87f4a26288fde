"""Storage locations: paths and URIs joined and split with a URI's query kept at its end."""

from __future__ import annotations

import pyarrow.fs

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
