"""Ray clusters that a test starts as separate processes on this machine, as a user would: `ray
start --head` (and `ray start --address` for more nodes), or a head whose autoscaler adds nodes
through Ray's fake multi-node provider (real raylets, real autoscaler).

Each cluster has its own temp dir, ports and HOME, whose `~/.ray/auth_token` turns Ray's token
authentication on, as it is for a user who ran `ray get-auth-token --generate`. `env` is that
user's plain shell: no RAY_* variables. A cluster is stopped by killing its own processes only:
`ray stop` (and `AutoscalingCluster`, which runs `ray stop --force`) would end every Ray on the
machine, a user's running sweep and the test session's own Ray included.
"""

from __future__ import annotations

import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

RAY = str(Path(sys.executable).parent / "ray")


@dataclass
class Cluster:
    tmp: Path
    gcs: int  # the head's GCS port
    dashboard: int  # the head's dashboard and job API port
    env: dict[str, str]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.gcs}"

    @property
    def cli_env(self) -> dict[str, str]:
        """`env` for the `ray` commands that join with an address (`ray start --address`, `ray
        job`, `ray list`): unlike `ray start --head`, they send the token only in token mode."""
        return {**self.env, "RAY_AUTH_MODE": "token"}

    def add_node(self, num_cpus: int) -> None:
        run(RAY, "start", "--address", self.address, "--num-cpus", str(num_cpus),
            "--dashboard-agent-listen-port", str(free_port()), env=self.cli_env)

    def add_isolated_node(self, num_cpus: int, hide: list[Path], env: dict[str, str]) -> None:
        """A worker node that shares no disk with the driver or another node: `ray start` in its
        own mount namespace (`unshare -m`), with an empty tmpfs over each of `hide` (the driver's
        folders), over this cluster's temp dir (the head's session, every HOME and its
        ~/.ray/auth_token) and over /dev/shm. The token comes by variable; `env` adds the rest
        (object-store credentials)."""
        token = (Path(self.env["HOME"]) / ".ray" / "auth_token").read_text()
        node = self.tmp / f"n{free_port()}"  # inside the tmpfs over self.tmp: this node's alone
        mounts = " && ".join(f"mount -t tmpfs tmpfs {shlex.quote(str(d))}" for d in [*hide, self.tmp, Path("/dev/shm")])
        start = shlex.join([RAY, "start", "--address", self.address, "--num-cpus", str(num_cpus), "--temp-dir", str(node / "t"),
                            "--dashboard-agent-listen-port", str(free_port())])
        script = f"{mounts} && mkdir -p {shlex.quote(str(node))}/home/.cache && exec {start}"
        run("unshare", "-m", "--propagation", "private", "sh", "-c", script,
            env={**self.cli_env, **env, "HOME": str(node / "home"), "RAY_AUTH_TOKEN": token})


def can_unshare() -> bool:
    """Whether this machine lets a process have its own mount namespace (root, or a user
    namespace allowed): where it cannot, the no-shared-disk tests skip."""
    try:
        return subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(*args: str, env: dict[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done


def _autoscaling_config(gcs: int, worker_cpus: int, max_workers: int) -> dict:
    """The fake multi-node provider's cluster config (the ray wheel lacks the example file that
    `AutoscalingCluster` reads): a head that trains nothing, one worker type, 0 to `max_workers`."""
    return {
        "cluster_name": "se-sweep-test",
        "max_workers": max_workers,
        "provider": {"type": "fake_multinode", "gcs_address": f"127.0.0.1:{gcs}", "use_node_id_as_ip": True,
                     "disable_node_updaters": True, "disable_launch_config_check": True},
        "available_node_types": {
            "ray.head.default": {"resources": {"CPU": 0}, "node_config": {}, "max_workers": 0},
            "worker": {"resources": {"CPU": worker_cpus}, "node_config": {}, "min_workers": 0, "max_workers": max_workers},
        },
        "head_node_type": "ray.head.default",
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": 5,
        **{k: {} for k in ("auth", "docker", "file_mounts")},
        **{k: [] for k in ("initialization_commands", "setup_commands", "head_setup_commands", "worker_setup_commands",
                           "head_start_ray_commands", "worker_start_ray_commands", "cluster_synced_files",
                           "rsync_exclude", "rsync_filter")},
        "file_mounts_sync_continuously": False,
    }


@contextmanager
def ray_cluster(head_cpus: int = 0, autoscale: tuple[int, int] | None = None) -> Iterator[Cluster]:
    """A head with `head_cpus`; with `autoscale=(worker_cpus, max_workers)`, an autoscaler that
    adds worker nodes of `worker_cpus` as demand waits, up to `max_workers`."""
    # Ray's socket paths must stay short: a temp dir right under /tmp.
    tmp = Path(tempfile.mkdtemp(prefix="r", dir="/tmp"))
    home = tmp / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), RAY_TMPDIR=str(tmp))
    cluster = Cluster(tmp, free_port(), free_port(), env)
    head_env = dict(env)
    args = [RAY, "start", "--head", "--num-cpus", str(head_cpus), "--port", str(cluster.gcs), "--temp-dir", str(tmp / "t"),
            "--dashboard-host", "127.0.0.1", "--dashboard-port", str(cluster.dashboard),
            "--ray-client-server-port", str(free_port()),
            # the default agent port (52365) may be taken by another Ray here
            "--dashboard-agent-listen-port", str(free_port())]
    if autoscale:
        config = tmp / "autoscaler.json"
        config.write_text(json.dumps(_autoscaling_config(cluster.gcs, *autoscale)))
        args.append(f"--autoscaling-config={config}")
        head_env.update(RAY_FAKE_CLUSTER="1", AUTOSCALER_UPDATE_INTERVAL_S="1")
    try:
        run(*args, env=head_env)
        yield cluster
    finally:
        _stop(tmp, cluster.gcs)


def _stop(tmp: Path, gcs: int) -> None:
    """Kill this cluster's processes and their children: those whose command line names its temp
    dir or GCS port (the autoscaler's raylets run under the head's session dir)."""
    import psutil

    roots = []
    for proc in psutil.process_iter(["cmdline"]):
        try:
            cmd = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if str(tmp) in cmd or f":{gcs}" in cmd:
            roots.append(proc)
    procs = {}
    for root in roots:
        try:
            procs.update({p.pid: p for p in [root, *root.children(recursive=True)]})
        except psutil.NoSuchProcess:
            pass
    for proc in procs.values():
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(list(procs.values()), timeout=30)
    shutil.rmtree(tmp, ignore_errors=True)
