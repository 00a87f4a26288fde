"""Cluster use: the launcher configs pass Ray's own cluster-config schema (as `ray up` checks it,
offline) and the RayJob manifest is complete; on real Ray clusters started on this machine with
`ray start` (tests/clusters.py), a sweep submitted through the job API trains each trial on both
nodes, a sweep grows an autoscaling cluster and runs its trials at once, and joining sends the
cluster's token, with one line for a refused token or an address nobody answers at."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.clusters import RAY, free_port, ray_cluster, run
from tests.helpers import HANG_TIMEOUT_S, sweep_file, trial_progress

CLUSTER = Path(__file__).resolve().parent.parent / "cluster"


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


def test_rayjob_manifest_autoscales_gpus_and_has_image_entrypoint_and_no_public_service():
    job = yaml.safe_load((CLUSTER / "kuberay-rayjob.yaml").read_text())
    assert job["kind"] == "RayJob" and job["spec"]["shutdownAfterJobFinishes"] is True
    assert job["spec"]["entrypoint"].startswith("se-sweep run sweeps/paper.yaml --address auto")
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["headGroupSpec"]["serviceType"] == "ClusterIP"
    assert cluster["enableInTreeAutoscaling"] is True  # else the GPU group stays at its replicas
    (gpu,) = cluster["workerGroupSpecs"]
    assert gpu["minReplicas"] == 0 and gpu["maxReplicas"] == 8
    (container,) = gpu["template"]["spec"]["containers"]
    assert container["image"] and container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert any(t["key"] == "nvidia.com/gpu" for t in gpu["template"]["spec"]["tolerations"])


def _se_sweep(*args: str, env: dict[str, str], timeout: float = HANG_TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "se_train.cli", *args], env=env, capture_output=True, text=True, timeout=timeout)


def _most_at_once(progress: dict) -> int:
    """The most trials running at one moment, from each trial's own reports: it started when its
    first epoch began (that report's time less the epoch's) and ended at its last report."""
    events = []
    for df in progress.values():
        events += [(df["timestamp"].iloc[0] - df["time_this_iter_s"].iloc[0], 1), (df["timestamp"].iloc[-1], -1)]
    running = most = 0
    for _, change in sorted(events, key=lambda e: (e[0], e[1])):  # an end before a start at the same second
        running += change
        most = max(most, running)
    return most


@pytest.mark.ray
def test_a_sweep_grows_an_autoscaling_cluster_and_runs_trials_at_once(tmp_path):
    # As the shipped cluster configs: a head that trains nothing, workers from 0 nodes up. Sized
    # at the start, the sweep would run one trial at a time on one node.
    with ray_cluster(head_cpus=0, autoscale=(1, 3)) as cluster:
        # The 3 nodes come up together, the first 3 trials start within 2 s: 12 epochs (6 s or
        # more) overlap them.
        path = sweep_file(tmp_path, "grow", {"seed": [0, 1, 2, 3, 4, 5]}, train={"epochs": 12})
        done = _se_sweep("run", str(path), "--address", cluster.address, env=cluster.env)
        (tmp_path / "run.log").write_text(done.stdout + done.stderr)
        assert done.returncode == 0, done.stderr[-3000:]
    progress = trial_progress(tmp_path / "experiments" / "grow")
    assert len(progress) == 6 and all(df["epoch"].tolist() == list(range(1, 13)) for df in progress.values())
    # Each node holds one 1-CPU trial process and the head none: 3 processes, 3 nodes added.
    assert len({int(df["pid"].iloc[0]) for df in progress.values()}) == 3
    assert _most_at_once(progress) >= 3


# The last two tests share one 2-node `ray start` cluster (its start and stop cost ~20 s); they
# come last so that it is not up while the autoscaling test starts its own.
@pytest.fixture(scope="module")
def two_nodes():
    with ray_cluster(head_cpus=2) as cluster:
        cluster.add_node(num_cpus=2)
        yield cluster


@pytest.mark.ray
@pytest.mark.slow
def test_two_node_ray_runs_a_submitted_sweep_on_both_nodes(tmp_path, two_nodes):
    cluster = two_nodes
    # Two workers per trial, spread: the trial trains on both nodes.
    path = sweep_file(tmp_path, "multi", {}, train={"epochs": 1},
                      resources={"workers_per_trial": 2, "cpus_per_worker": 1, "placement_strategy": "SPREAD"})
    for _ in range(15):  # the job agent comes up a few seconds after `ray start` returns
        job = subprocess.run(
            [RAY, "job", "submit", "--address", f"http://127.0.0.1:{cluster.dashboard}", "--",
             sys.executable, "-m", "se_train.cli", "run", str(path), "--address", "auto"],
            env=cluster.cli_env, capture_output=True, text=True, timeout=HANG_TIMEOUT_S,
        )
        if "No available agent" not in job.stderr:
            break
        time.sleep(2)
    (tmp_path / "job.log").write_text(job.stdout + job.stderr)  # kept by pytest for diagnosis
    assert job.returncode == 0 and "succeeded" in job.stdout, job.stdout[-3000:] + job.stderr[-3000:]
    # The job's log is the live view's: no Ray Train INFO line per report or checkpoint from each worker.
    for line in ("Reporting training result", "Checkpoint successfully created", "Started training worker group"):
        assert line not in job.stdout + job.stderr, line
    progress = trial_progress(tmp_path / "experiments" / "multi")
    assert len(progress) == 1 and all(df["workers"].tolist() == [2] for df in progress.values())
    listed = run(RAY, "list", "actors", "--address", cluster.address, "--filter", "class_name=RayTrainWorker",
                 "--detail", "--format", "json", "--limit", "100", env=cluster.cli_env)
    nodes = {a["node_id"] for a in json.loads(listed.stdout)}
    assert len(nodes) == 2, f"Train workers ran on {len(nodes)} node(s)"


@pytest.mark.ray
def test_joining_a_ray_start_cluster_sends_the_token_and_bad_addresses_are_one_line(tmp_path, two_nodes):
    path = sweep_file(tmp_path, "join", {}, train={"epochs": 1})
    cluster = two_nodes
    # The user's shell: the token `ray start` found in ~/.ray/auth_token, no RAY_AUTH_MODE.
    done = _se_sweep("run", str(path), "--address", cluster.address, env=cluster.env)
    assert done.returncode == 0, done.stderr[-3000:]
    (df,) = trial_progress(tmp_path / "experiments" / "join").values()
    assert df["epoch"].tolist() == [1]
    wrong = _se_sweep("run", str(path), "--address", cluster.address, "--storage", str(tmp_path / "wrong"),
                      env={**cluster.env, "RAY_AUTH_TOKEN": "0" * 64})
    assert wrong.returncode == 2
    assert wrong.stderr.splitlines()[-1] == (
        f"se-sweep: error: --address {cluster.address}: the cluster refused this driver's authentication token (or it has "
        "none); set RAY_AUTH_TOKEN, or RAY_AUTH_TOKEN_PATH, to the cluster's token (`ray get-auth-token` on its head node)")
    assert not (tmp_path / "wrong" / "join" / "sweep.json").exists()
    nobody = f"127.0.0.1:{free_port()}"
    refused = _se_sweep("run", str(path), "--address", nobody, "--storage", str(tmp_path / "nobody"), env=cluster.env, timeout=120)
    assert refused.returncode == 2 and refused.stderr == f"se-sweep: error: --address {nobody}: no Ray cluster answers there (Connection refused)\n"
