"""Cluster use: the launcher configs pass Ray's own cluster-config schema (as `ray up` checks it,
offline), the RayJob manifest is complete, and a real two-node Ray on this machine runs the sweep
submitted through the job API with each trial's workers on both nodes."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import HANG_TIMEOUT_S, sweep_file, trial_progress

CLUSTER = Path(__file__).resolve().parent.parent / "cluster"
RAY = str(Path(sys.executable).parent / "ray")


@pytest.mark.parametrize("name", ["aws-gpu.yaml", "gcp-gpu.yaml"])
def test_launcher_config_passes_rays_schema(name):
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = yaml.safe_load((CLUSTER / name).read_text())
    validate_config(prepare_config(config))  # what `ray up` runs before touching the cloud
    assert config["idle_timeout_minutes"] > 0
    for cmd in config["head_start_ray_commands"]:
        if "ray start --head" in cmd:
            assert "--dashboard-host=127.0.0.1" in cmd  # the job API never listens publicly
    broken = {**config, "head_node_typo": "x"}
    with pytest.raises(Exception, match="head_node_typo"):
        validate_config(prepare_config(broken))


def test_rayjob_manifest_has_gpus_image_entrypoint_and_no_public_service():
    job = yaml.safe_load((CLUSTER / "kuberay-rayjob.yaml").read_text())
    assert job["kind"] == "RayJob" and job["spec"]["shutdownAfterJobFinishes"] is True
    assert job["spec"]["entrypoint"].startswith("se-sweep run sweeps/paper.yaml --address auto")
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["headGroupSpec"]["serviceType"] == "ClusterIP"
    (gpu,) = cluster["workerGroupSpecs"]
    (container,) = gpu["template"]["spec"]["containers"]
    assert container["image"] and container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert any(t["key"] == "nvidia.com/gpu" for t in gpu["template"]["spec"]["tolerations"])


def _ok(done: subprocess.CompletedProcess) -> None:
    assert done.returncode == 0, f"{done.args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"


def _stop_cluster(ray_tmp: Path, gcs: int) -> None:
    """Kill this test's Ray processes and their children only: `ray stop` would also stop the
    test session's own Ray."""
    import psutil

    roots = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if str(ray_tmp) in cmd or f":{gcs}" in cmd:
            roots.append(proc)
    procs = {p.pid: p for root in roots for p in [root, *root.children(recursive=True)]}
    for proc in procs.values():
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(list(procs.values()), timeout=30)
    shutil.rmtree(ray_tmp, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.ray
def test_two_node_ray_runs_a_submitted_sweep_on_both_nodes(tmp_path):
    # Separate processes with their own temp dir, ports and auth token: nothing touches the test
    # session's Ray or ~/.ray. Ray's socket paths must stay short: a temp dir right under /tmp.
    ray_tmp = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))
    env = {
        **os.environ,
        "RAY_TMPDIR": str(ray_tmp),
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
    }
    env.pop("RAY_ADDRESS", None)
    gcs, dashboard = _free_port(), _free_port()
    start = dict(env=env, capture_output=True, text=True, timeout=180)
    try:
        head = subprocess.run([RAY, "start", "--head", "--num-cpus", "2", "--port", str(gcs), "--dashboard-host", "127.0.0.1",
                        "--dashboard-port", str(dashboard), "--ray-client-server-port", str(_free_port()),
                        "--temp-dir", str(ray_tmp / "head"),
                               # the default agent port (52365) may be taken by another Ray here
                               "--dashboard-agent-listen-port", str(_free_port())], **start)
        _ok(head)
        _ok(subprocess.run([RAY, "start", "--address", f"127.0.0.1:{gcs}", "--num-cpus", "2",
                            "--dashboard-agent-listen-port", str(_free_port())], **start))
        # Two workers per trial, spread: each trial trains on both nodes.
        path = sweep_file(tmp_path, "multi", {"activation": ["relu", "selu"]}, train={"epochs": 1},
                          resources={"workers_per_trial": 2, "cpus_per_worker": 1, "placement_strategy": "SPREAD"})
        for _ in range(15):  # the job agent comes up a few seconds after `ray start` returns
            job = subprocess.run(
                [RAY, "job", "submit", "--address", f"http://127.0.0.1:{dashboard}", "--",
                 sys.executable, "-m", "se_train.cli", "run", str(path), "--address", "auto"],
                env=env, capture_output=True, text=True, timeout=HANG_TIMEOUT_S,
            )
            if "No available agent" not in job.stderr:
                break
            time.sleep(2)
        (tmp_path / "job.log").write_text(job.stdout + job.stderr)  # kept by pytest for diagnosis
        assert job.returncode == 0 and "succeeded" in job.stdout, job.stdout[-3000:] + job.stderr[-3000:]
        progress = trial_progress(tmp_path / "experiments" / "multi")
        assert len(progress) == 2 and all(df["workers"].tolist() == [2] for df in progress.values())
        listed = subprocess.run(
            [RAY, "list", "actors", "--address", f"127.0.0.1:{gcs}", "--filter", "class_name=RayTrainWorker",
             "--detail", "--format", "json", "--limit", "100"],
            env=env, check=True, capture_output=True, text=True, timeout=120,
        )
        nodes = {a["node_id"] for a in json.loads(listed.stdout)}
        assert len(nodes) == 2, f"Train workers ran on {len(nodes)} node(s)"
    finally:
        _stop_cluster(ray_tmp, gcs)
