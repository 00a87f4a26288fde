"""MLflow tracking against a real MLflow server (SQLite backend, local artifact folder) on
127.0.0.1: trial runs nested under the sweep's parent run, with params, per-epoch metric histories
and tags; a rerun adds no runs; the report lands on the parent run; an unreachable URI is one line."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from se_train.cli import main
from se_train.report.summary import write_report
from se_train.sweep import runner
from tests.helpers import run_with_hang_guard, running_children, sweep_file, trial_progress, wait_for

mlflow = pytest.importorskip("mlflow", reason="the test extra installs mlflow")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(root: Path, port: int) -> subprocess.Popen:
    """A real MLflow server on 127.0.0.1:`port` over `root`'s SQLite store, once it answers."""
    cli = Path(sys.executable).parent / "mlflow"
    proc = subprocess.Popen(
        [str(cli), "server", "--backend-store-uri", f"sqlite:///{root}/mlflow.db", "--artifacts-destination",
         str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        stdout=open(root / "server.log", "a"), stderr=subprocess.STDOUT,
        # MLflow 3 starts a job runner with 7 queue consumers beside the server (12 CPU-s more per
        # start here) for its GenAI jobs, which the tracking API never uses.
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2).read() == b"OK":
                return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    pytest.fail("the MLflow server did not start: " + (root / "server.log").read_text()[-2000:])


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    proc = _start_server(root, port)
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(30)


def test_a_sweep_is_a_parent_run_with_one_nested_run_per_trial(tmp_path, ray_cluster, mlflow_server):
    from mlflow.tracking import MlflowClient

    path = sweep_file(tmp_path, "tracked", {"lr": [1e6, 1e-3]}, resources={"max_concurrent_trials": 1})
    experiment = run_with_hang_guard(path, mlflow=mlflow_server)
    client = MlflowClient(mlflow_server)
    exp = client.get_experiment_by_name("tracked")
    (parent,) = client.search_runs([exp.experiment_id], filter_string=f"tags.`se_sweep.experiment` = '{experiment}'")
    children = client.search_runs([exp.experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
    assert len(children) == 2 and parent.data.tags["sweep"] == "tracked"
    by_lr = {float(r.data.params["lr"]): r for r in children}
    good, bad = by_lr[1e-3], by_lr[1e6]
    assert good.data.params["model"] == "simple_cnn" and good.data.tags["grid.lr"] == "0.001"
    history = client.get_metric_history(good.info.run_id, "valid_acc")
    assert [m.step for m in history] == [1, 2] and all(0 <= m.value <= 1 for m in history)
    assert good.data.tags["diverged"] == "False" and good.data.tags["device"] == "cpu" and good.info.status == "FINISHED"
    assert bad.data.tags["diverged"] == "True" and int(bad.data.tags["diverged_step"]) >= 0
    assert good.info.run_name == "simple_cnn digits relu s0"

    # The same command again resumes the finished sweep: it continues the same runs, adds none.
    run_with_hang_guard(path, mlflow=mlflow_server)
    assert len(client.search_runs([exp.experiment_id])) == 3

    assert main(["report", str(experiment), "--out", str(tmp_path / "report"), "--mlflow", mlflow_server]) == 0
    attached = {a.path for a in client.list_artifacts(parent.info.run_id, "report")}
    assert {"report/summary.md", "report/table.md", "report/curves.png"} <= attached


def test_unreachable_tracking_uri_is_one_line_before_ray_starts(tmp_path, capsys, monkeypatch):
    path = sweep_file(tmp_path, "untracked", {})
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    uri = f"http://127.0.0.1:{_free_port()}"
    assert main(["run", str(path), "--mlflow", uri]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"MLflow tracking URI {uri} does not answer" in err


def test_a_tracking_server_that_blinks_mid_sweep_stops_no_training(tmp_path, ray_cluster, capsys):
    from mlflow.tracking import MlflowClient

    root, port = tmp_path / "mlflow", _free_port()
    root.mkdir()
    servers = [_start_server(root, port)]
    uri = f"http://127.0.0.1:{port}"
    path = sweep_file(tmp_path, "blink", {"seed": [0, 1, 2]}, train={"epochs": 4}, resources={"max_concurrent_trials": 1})
    experiment = tmp_path / "experiments" / "blink"

    def blink():  # down from the first reported epoch on, for 3 s, then up again on the same store
        wait_for(lambda: experiment.exists() and trial_progress(experiment), "the first reported epoch")
        servers[0].terminate()
        servers[0].wait(30)
        time.sleep(3)
        servers.append(_start_server(root, port))

    blinker = threading.Thread(target=blink, daemon=True)
    blinker.start()
    try:
        run_with_hang_guard(path, mlflow=uri)
        blinker.join(150)
        progress = trial_progress(experiment)
        assert len(progress) == 3 and all(df["epoch"].tolist() == [1, 2, 3, 4] for df in progress.values())
        gaps = json.loads((experiment / "mlflow_gaps.json").read_text())
        assert gaps and all(n > 0 for n in gaps.values())
        capsys.readouterr()
        assert main(["status", str(experiment)]) == 0
        assert f"MLflow missed results of {len(gaps)} trial run(s), tagged se_sweep.incomplete" in capsys.readouterr().out
        out = write_report([str(experiment)], tmp_path / "report")
        assert f"- MLflow: {len(gaps)} trial run(s) missed some results" in (out / "summary.md").read_text()
        # After the restart the sweep reaches MLflow again: the last trial's run is whole.
        client = MlflowClient(uri)
        exp = client.get_experiment_by_name("blink")
        finished = [r for r in client.search_runs([exp.experiment_id]) if r.info.status == "FINISHED"]
        assert any(r.data.tags.get("se_sweep.trial_id") not in gaps for r in finished)
    finally:
        for server in servers:
            server.terminate()


def _tracked_by_wandb(tmp_path: Path, name: str) -> Path:
    import yaml

    path = sweep_file(tmp_path, name, {"activation": ["relu", "selu"]}, resources={"max_concurrent_trials": 1})
    raw = yaml.safe_load(path.read_text())
    path.write_text(yaml.safe_dump({**raw, "tracking": {"wandb": "se-sweep-test"}}))
    return path


def _wandb_records(path: Path):
    """The records of a W&B run file (`run-<id>.wandb`), as `wandb sync` reads them: a 7-byte
    header, then LevelDB's log format (32 KiB blocks; each chunk a 4-byte checksum, a 2-byte length
    and a type: 1 whole, 2 first, 3 middle, 4 last), each record a protobuf `Record`."""
    from wandb.proto import wandb_internal_pb2

    data, pos, part = path.read_bytes(), 7, b""
    assert data[:4] == b":W&B", data[:7]
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # a block's tail too short for a chunk header is padding
            pos += 32768 - pos % 32768
            continue
        _, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        part, pos = part + data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(part)
            part = b""
            yield record


def test_wandb_offline_writes_one_run_per_trial_with_its_cell_and_every_epoch(tmp_path, ray_cluster, monkeypatch):
    pytest.importorskip("wandb", reason="the test extra installs wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")  # W&B's own switch: no network, the runs kept in the experiment's folder
    monkeypatch.setenv("WANDB_SILENT", "true")
    experiment = run_with_hang_guard(_tracked_by_wandb(tmp_path, "wandbed"))
    runs = sorted(experiment.glob("wandb/offline-run-*/run-*.wandb"))
    assert len(runs) == 2, sorted(p.relative_to(experiment) for p in experiment.rglob("*wandb*"))
    cells = set()
    for run in runs:
        records = list(_wandb_records(run))
        history = [{item.key or "/".join(item.nested_key): json.loads(item.value_json) for item in r.history.item}
                   for r in records if r.WhichOneof("record_type") == "history"]
        config = {item.key: json.loads(item.value_json) for r in records if r.WhichOneof("record_type") == "config" for item in r.config.update}
        assert [h["epoch"] for h in history] == [1, 2] and all(0 <= h["valid_acc"] <= 1 for h in history), history
        assert records[1].run.project == "se-sweep-test" and records[1].run.run_group == "wandbed"
        cells.add((config["model"], config["activation"]))
    assert cells == {("simple_cnn", "relu"), ("simple_cnn", "selu")}  # each run carries its own cell


def test_a_trials_wandb_logging_actor_ends_only_after_wandbs_service_wrote_its_run(tmp_path, monkeypatch):
    # Tune kills a trial's W&B logging actor as soon as its run() returns, so W&B's service must
    # have written the run by then (ray_private.wandb_logger). The actor's own code, in this process.
    from types import SimpleNamespace

    import psutil
    from ray.air.integrations.wandb import _QueueItem

    from se_train.sweep import ray_private

    pytest.importorskip("wandb", reason="the test extra installs wandb")
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.chdir(tmp_path)  # the actor changes to its trial's folder; this test's process changes back after
    actor_class = ray_private.wandb_logger(project="p", dir=str(tmp_path))._logger_actor_cls
    items = iter([(_QueueItem.RESULT, {"epoch": 1, "valid_acc": 0.5, "training_iteration": 1}), (_QueueItem.END, None)])
    actor = actor_class(logdir=str(tmp_path), queue=SimpleNamespace(get=lambda: next(items)), exclude=[], to_config=[],
                        project="p", dir=str(tmp_path), mode="offline", id="t1")
    actor.run()
    assert not running_children(psutil.Process(), "wandb", recursive=True), "W&B's service is still up"
    (run,) = tmp_path.glob("wandb/offline-run-*/run-t1.wandb")
    kinds = [r.WhichOneof("record_type") for r in _wandb_records(run)]
    assert "history" in kinds and kinds[-1] == "exit", kinds


def test_wandb_without_credentials_is_one_line_before_ray_starts(tmp_path, capsys, monkeypatch):
    pytest.importorskip("wandb", reason="the test extra installs wandb")
    for key in ("WANDB_MODE", "WANDB_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))  # where `wandb login` would have stored a key
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setattr(runner, "connect", lambda *a, **k: pytest.fail("Ray was started"))
    assert main(["run", str(_tracked_by_wandb(tmp_path, "nokey"))]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "tracking.wandb: no W&B credentials here: run `wandb login`" in err
