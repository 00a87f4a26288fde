"""A cluster whose machines share no disk, as real clusters are: a head that trains nothing and two
worker nodes, each `ray start`ed in its own mount namespace with empty tmpfs over the driver's
folders, every HOME (caches, ~/.ray), the head's session and /dev/shm (tests/clusters.py), with the
data and the experiments in a bucket on moto's S3 server. On it: a researcher's own model file and
image folder, both on the driver alone, train there with two-worker DDP, one worker on each node:
the plugin shipped by Ray's runtime_env, the images prepared into the bucket; and a one-worker
sweep whose driver is SIGKILLed at four points (during a trial's first checkpoint, just after a
mid-trial one, between two checkpoints, just after a trial finishes) resumes each time to every
trial complete with exactly its epochs, nothing finished rerun. Skipped where mount namespaces
are not permitted (CI runs as root, where they are). Stops only the processes it started."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import boto3
import pandas as pd
import psutil
import pytest
import yaml

from se_train import tune_files
from se_train.result import TuneStatus
from se_train.report.collect import collect
from se_train.report.status import status
from se_train.report.summary import write_report
from tests.clusters import RAY, can_unshare, ray_cluster, run
from tests.helpers import HANG_TIMEOUT_S, S3_CREDENTIALS, digits_as_png, s3_server, wait_for

pytestmark = [pytest.mark.ray, pytest.mark.slow,
              pytest.mark.skipif(not can_unshare(), reason="mount namespaces (unshare -m) are not permitted here")]

BUCKET = "no-shared-disk"


@pytest.fixture(scope="module")
def bucket():
    """The bucket, and its endpoint in Ray's query form; the test reads it too (collect, state)."""
    with s3_server() as endpoint, pytest.MonkeyPatch.context() as patch:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        s3.create_bucket(Bucket=BUCKET)
        for key, value in S3_CREDENTIALS.items():
            patch.setenv(key, value)
        yield s3, f"?region=us-east-1&endpoint_override={endpoint}"


@pytest.fixture(scope="module")
def cluster(bucket, tmp_path_factory):
    """The cluster, and the driver's environment and folder (hidden from both worker nodes)."""
    _, query = bucket
    driver = tmp_path_factory.mktemp("driver")
    with ray_cluster(head_cpus=0) as c:
        for _ in range(2):
            c.add_isolated_node(num_cpus=2, hide=[driver], env=S3_CREDENTIALS)
        # Each worker node's raylet lives in a mount namespace of its own, not the driver's.
        raylets = [p for p in psutil.process_iter(["cmdline"]) if "raylet" in " ".join(p.info["cmdline"] or [])[:200]
                   and str(c.tmp) in " ".join(p.info["cmdline"] or [])]
        spaces = {os.readlink(f"/proc/{p.pid}/ns/mnt") for p in raylets}
        assert len(raylets) == 3 and len(spaces) == 3 and os.readlink("/proc/self/ns/mnt") in spaces, spaces
        env = {**c.cli_env, **S3_CREDENTIALS, "SE_SWEEP_DATA_CACHE": str(driver / "cache")}
        prepared = _se_sweep(env, driver, "prepare", "digits", "--data-root", f"s3://{BUCKET}/data{query}")
        assert prepared.returncode == 0, prepared.stderr[-3000:]
        yield c, env, driver


def _se_sweep(env: dict[str, str], cwd: Path, *args: str, timeout: float = HANG_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "se_train.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def _sweep(driver: Path, query: str, name: str, epochs: int, activations: tuple[str, ...] = ("relu", "selu"),
           grid: dict | None = None, plugins: tuple[str, ...] = (), **resources) -> Path:
    path = driver / f"{name}.yaml"
    path.write_text(yaml.safe_dump({
        "name": name, "data_root": f"s3://{BUCKET}/data{query}", "storage": f"s3://{BUCKET}/experiments{query}",
        "grid": {"model": ["simple_cnn"], "dataset": ["digits"], "activation": list(activations), "se": [False], **(grid or {})},
        "train": {"epochs": epochs, "lr": 1e-3, "schedule": "constant"},
        "resources": {"workers_per_trial": 1, "cpus_per_worker": 1, **resources},
        "plugins": list(plugins),
    }))
    return path


def _keys(s3, prefix: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=prefix)
    return [o["Key"] for page in pages for o in page.get("Contents", [])]


def _epochs(experiment: str) -> dict[str, list[int]]:
    exp = collect(experiment)
    return {t: group["epoch"].tolist() for t, group in exp.epochs.groupby("trial_id")}


def test_your_own_model_file_and_image_folder_train_on_nodes_that_share_no_disk(bucket, cluster):
    s3, query = bucket
    c, env, driver = cluster
    own = driver / "own"  # the driver's folder alone: hidden from both worker nodes
    own.mkdir()
    shutil.copy(Path(__file__).resolve().parent.parent / "examples" / "my_models.py", own / "my_models.py")
    digits_as_png(own / "pngs", per_class=60)
    prepared = _se_sweep(env, own, "prepare", "imagefolder", "--source", str(own / "pngs"), "--name", "pngdigits",
                         "--data-root", f"s3://{BUCKET}/data{query}", "--workers", "1")
    assert prepared.returncode == 0, prepared.stderr[-3000:]
    grid = {"model": ["mlp"], "dataset": ["pngdigits"], "image_size": [16], "hidden": [32, 64]}  # hidden: the plugin's own option
    # Two DDP workers per trial, spread: the plugin reaches Ray Train's workers on both nodes too.
    path = _sweep(own, query, "own", 3, ("relu",), grid=grid, plugins=("my_models.py",), workers_per_trial=2, placement_strategy="SPREAD")
    done = _se_sweep(env, own, "run", str(path), "--address", c.address)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    experiment = f"s3://{BUCKET}/experiments/own{query}"
    exp = collect(experiment)
    assert list(exp.runs["status"]) == ["completed"] * 2 and set(exp.runs["model"]) == {"mlp"} and set(exp.epochs["workers"]) == {2}
    listed = run(RAY, "list", "actors", "--address", c.address, "--filter", "class_name=RayTrainWorker",
                 "--detail", "--format", "json", "--limit", "100", env=c.cli_env)
    assert len({a["node_id"] for a in json.loads(listed.stdout)}) == 2  # one worker on each node
    # 1 x 16 x 16 inputs (greyscale PNGs stay one channel), two hidden layers of each width, 10 classes
    assert dict(zip(exp.runs["hidden"], exp.runs["params"])) == {h: 256 * h + h + h * h + h + h * 10 + 10 for h in (32, 64)}
    # 600 real digits as PNG, 3 epochs of the plugin's MLP, on the worker nodes (the head has no
    # CPU), which saw neither the plugin file nor the images: well above chance (0.1). One grey
    # channel, as the PNGs are, gives the narrower net 0.43 here (three copies of it gave 0.5 and more)
    assert (exp.runs["max_valid_acc"] > 0.3).all()
    # `status` and `report` read it from the bucket, the own option naming each trial and each row
    view = status(experiment)
    assert "2 trials: 2 done" in view and "hidden=32" in view and "hidden=64" in view, view
    table = pd.read_csv(write_report([experiment], own / "report") / "table.csv")
    assert sorted(table["hidden"]) == [32, 64] and set(table["dataset"]) == {"pngdigits"}


def test_a_driver_killed_at_four_points_resumes_each_time_to_every_epoch_exactly_once(bucket, cluster):
    s3, query = bucket
    c, env, driver = cluster
    path = _sweep(driver, query, "killed", 4, max_concurrent_trials=1)
    prefix = "experiments/killed/"
    experiment = f"s3://{BUCKET}/experiments/killed{query}"
    # The trial folders holding checkpoint n (0-based: epoch n + 1), as the bucket has them.
    holding = lambda n: {k.split("/")[2] for k in _keys(s3, prefix) if f"/checkpoint_{n:06d}/" in k}  # noqa: E731
    points = [
        ("during a trial's first checkpoint", lambda: holding(0)),
        ("just after a mid-trial checkpoint, before the driver uploads its record", lambda: holding(1)),
        ("between two checkpoints", lambda: holding(2)),
        ("just after a trial finishes", lambda: holding(3)),  # epoch 4's checkpoint: the trial's last
    ]
    command, outputs, finished = ["run", str(path), "--address", c.address], [], {}
    for what, event in points:
        before = event()
        proc = subprocess.Popen([sys.executable, "-m", "se_train.cli", *command], env=env, cwd=driver, start_new_session=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        wait_for(lambda: (event() - before) or proc.poll() is not None, what)
        os.killpg(proc.pid, signal.SIGKILL)
        outputs.append(proc.communicate()[0])
        assert proc.returncode == -signal.SIGKILL, f"the sweep ended before the kill {what}: " + outputs[-1][-3000:]
        # What Tune's durable state calls finished must not run again.
        finished.update({t.folder: _etag(s3, prefix + t.folder + "/result.json")
                         for t in tune_files.read_state(experiment) if t.status == TuneStatus.TERMINATED and t.folder not in finished})
        command = ["resume", experiment, "--address", c.address]
    done = _se_sweep(env, driver, *command)
    assert done.returncode == 0, "\n".join(outputs) + done.stdout[-3000:] + done.stderr[-3000:]
    epochs = _epochs(experiment)
    assert len(epochs) == 2 and all(e == [1, 2, 3, 4] for e in epochs.values()), (epochs, done.stdout)
    assert (collect(experiment).runs["status"] == "completed").all()
    assert {k: _etag(s3, prefix + k + "/result.json") for k in finished} == finished


def _etag(s3, key: str) -> str:
    return s3.head_object(Bucket=BUCKET, Key=key)["ETag"]
