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
    ("storage", "s3://", "no bucket"),  # pyarrow reads it as the account's root: a local folder named s3: once
    ("storage", "gs://", "no bucket"),
    ("storage", "s3:///x", "no storage handles this"),
    ("storage", "hdfs://host/x", "cannot be reached"),  # pyarrow knows the scheme; this machine has no JVM for it
    ("data_root", "file://host/x", "no storage handles this"),
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


@pytest.fixture
def silent_endpoint():
    """An S3 endpoint that takes connections and never answers (a store behind a dropped route,
    a gs:// bucket waiting on credentials): the address, and an event set once a client waits."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    waiting, held = threading.Event(), []

    def hold() -> None:
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # closed at the end of the test
                return
            waiting.set()

    threading.Thread(target=hold, daemon=True).start()
    yield f"s3://bucket/x?region=us-east-1&endpoint_override=http://127.0.0.1:{server.getsockname()[1]}", waiting
    server.close()
    for c in held:
        c.close()


def _sweep(tmp_path, storage_uri: str):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"name": "s", "storage": storage_uri, "data_root": str(tmp_path / "data"),
                                    "grid": {"model": ["simple_cnn"], "dataset": ["digits"], "activation": ["relu"], "se": [False]}}))
    return path


def test_a_store_that_never_answers_is_one_line_in_bounded_time(tmp_path, silent_endpoint, monkeypatch):
    import subprocess
    import sys
    import time

    uri, _ = silent_endpoint
    path = _sweep(tmp_path, uri)
    code = f"import sys; from se_train import storage, cli; storage.DEADLINE_S = 2; sys.exit(cli.main(['run', {str(path)!r}, '--dry-run']))"
    env = {**__import__("os").environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    took = time.monotonic() - start
    # the whole command, exit included: pyarrow's exit handler would wait for the hung call for minutes
    assert done.returncode == 2 and took < 10, (took, done.stderr)
    assert done.stderr == f"se-sweep: error: {path}: storage: {uri}: no answer in 2 s (credentials, network or endpoint?)\n"


def test_ctrl_c_stops_a_command_waiting_on_a_store_within_2_s(tmp_path, silent_endpoint):
    import os
    import signal
    import subprocess
    import sys
    import time

    uri, waiting = silent_endpoint
    path = _sweep(tmp_path, uri)
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    # SIGINT as a terminal sends it (a shell's background job would start with it ignored)
    command = subprocess.Popen([sys.executable, "-m", "se_train.cli", "run", str(path), "--dry-run"], env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert waiting.wait(30), "the command never called the store"
    time.sleep(0.5)
    start = time.monotonic()
    command.send_signal(signal.SIGINT)
    _, err = command.communicate(timeout=30)
    assert command.returncode == 130 and time.monotonic() - start < 2, err
    assert err == "se-sweep: interrupted\n"
