"""Where a sweep runs and how many trials it runs at once: a local Ray started here, or a cluster
joined with `--address` / RAY_ADDRESS (a fixed one, or one whose autoscaler adds nodes on demand).

On a cluster the cluster decides: every trial is queued with Tune, so its resource request is
pending demand that Ray's autoscaler scales on. Sizing from the nodes up at start would cap an
autoscaling cluster, whose GPU workers start at `min_workers: 0`, at one trial (measured with
Ray's fake multi-node autoscaler: one worker node, one trial at a time).
"""

from __future__ import annotations

import contextlib
import os
import platform
import socket
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import ray
from ray.tune.search.basic_variant import BasicVariantGenerator

from se_train.blocks import Resources

from se_train.config import SweepSpec
from se_train.errors import UserError
from se_train.sweep import ray_private
from se_train.sweep.checks import joining

# CPUs kept free for Ray Data's read and decode tasks, when some split streams, when a local Ray's
# concurrency is chosen for the user. Splits held in memory are read without Ray Data.
DATA_CPUS = 1
NO_CAP = 0  # BasicVariantGenerator's "no maximum"


# The sweep's job environment, seen by every actor, Ray Train's controllers included (a cluster's
# through the job's runtime_env, a local Ray's through its processes' own); each can be set
# otherwise in the driver's environment. A multi-worker trial's worker group gives up on its
# placement group after 60 s by default and fails into a retry; a trial queued on a full or
# growing cluster should wait for resources. Ray Data 2.60 reads a Parquet read's footers on a
# pool of 32 actors, a process each, started for every read (every streamed split of every
# trial: ~1.7 CPU-s a read here, benchmarks/parquet_reads.py); one takes 128 footers at a
# time, a split of 16 GiB in se-sweep's 128 MiB shards.
_DEFAULTS = {"RAY_TRAIN_WORKER_GROUP_START_TIMEOUT_S": str(7 * 24 * 3600), "RAY_DATA_PARQUET_FOOTER_NUM_ACTORS": "1"}
JOB_ENVIRONMENT = {name: os.environ.get(name, value) for name, value in _DEFAULTS.items()}


def connect(address: str | None, num_cpus: int | None = None, py_modules: list[str] = ()) -> None:
    """Join the cluster at `address` (or RAY_ADDRESS), else start a local Ray with `num_cpus`
    logical CPUs (default: the machine's). `py_modules`: the sweep's plugins, shipped to every
    trial by the job's runtime_env (`plugins.py_modules`)."""
    if joining(address) and num_cpus:
        raise UserError("--num-cpus sizes a local Ray; a cluster's CPUs are set where it starts")
    if ray.is_initialized():
        if py_modules:  # a job's runtime_env is set as it starts, not after
            raise UserError("this process started Ray itself (ray.init), without the sweep's plugins; let se-sweep start or join "
                            "Ray, or pass runtime_env={'py_modules': se_train.plugins.py_modules(...)} to ray.init")
        return
    if joining(address):
        _join(address, {"env_vars": JOB_ENVIRONMENT, **_shipped(py_modules)})
        return
    # The dashboard's State API lets Ray Train clean up a trial that Tune stops; without it the
    # stopped trial's placement group leaks and the next trial hangs. Bound to localhost.
    with local_environment():
        ray.init(num_cpus=num_cpus, include_dashboard=True, dashboard_host="127.0.0.1", runtime_env=_shipped(py_modules) or None)


@contextlib.contextmanager
def local_environment() -> Iterator[None]:
    """While a local Ray starts here: the job environment in this process's, for every process
    that Ray starts to inherit, and Ray Train's preemption watcher off (it polls for nodes being
    drained, and a local Ray is this machine alone; it was a process more in every DDP trial,
    whose start logged an error line, ray-project/ray#53727). Not in the job's runtime_env, as on
    a cluster: Ray gives a job only workers started with its runtime_env, so the worker per CPU a
    local Ray starts ahead would be started for nothing, and the first trials would each wait for
    a new one (~0.9 s against ~0.2 s for the first task and actor: benchmarks/first_worker.py).
    Only these names are restored after: ray.init sets others of its own."""
    env = {**JOB_ENVIRONMENT, "RAY_TRAIN_ENABLE_PREEMPTION_WATCHER": "0"}
    before = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name)
            else:
                os.environ[name] = value


def _shipped(py_modules: Sequence[str]) -> dict[str, Any]:
    """The runtime_env part that ships the sweep's plugins to every trial; none without plugins."""
    return {"py_modules": list(py_modules)} if py_modules else {}


def _join(address: str | None, runtime_env: dict[str, Any]) -> None:
    where = address or os.environ["RAY_ADDRESS"]
    refused = UserError(
        f"--address {where}: the cluster refused this driver's authentication token (or it has none); set "
        "RAY_AUTH_TOKEN, or RAY_AUTH_TOKEN_PATH, to the cluster's token (`ray get-auth-token` on its head node)"
    )
    if _is_host_port(where):
        _check_reachable(where)
    # ray.init sends a token only to a cluster it finds itself (no address, or "auto"); given an
    # address it sends none unless RAY_AUTH_MODE=token is set, and a `ray start` cluster (token
    # authentication on by default) refuses it. This is the helper `ray start` uses: it turns
    # token mode on when a token is found (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token).
    ray_private.enable_token_auth_if_found()
    if _is_host_port(where):
        _check_token(where, refused)
    try:
        ray.init(address=address, runtime_env=runtime_env)
    except ConnectionError as e:
        if "uthenticat" in f"{e} {e.__cause__}":
            raise refused from None
        raise UserError(f"--address {where}: cannot join a Ray cluster there ({e})") from None


def _is_host_port(address: str) -> bool:
    """HOST:PORT, a GCS address; not "auto", ray:// or other forms ray.init resolves itself."""
    _, sep, port = address.rpartition(":")
    return bool(sep) and "://" not in address and port.isdigit()


def _check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """A HOST:PORT nobody answers at fails here at once: ray.init would retry it for minutes."""
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as e:
        raise UserError(f"--address {address}: no Ray cluster answers there ({e.strerror or e})") from None


def _check_token(address: str, refused: UserError) -> None:
    """One request to the cluster's GCS with this driver's token: a refused token fails here in
    0.5 s, where ray.init retries it once a second for 20 s (measured on a `ray start` cluster)."""
    from ray.exceptions import AuthenticationError

    try:
        ray_private.probe_gcs(address)
    except AuthenticationError:
        raise refused from None


def hardware() -> dict[str, Any]:
    """What the sweep ran on, for the report: the driver's machine and the Ray cluster."""
    total = ray.cluster_resources()
    nodes = len([n for n in ray.nodes() if n.get("Alive")])
    desc = f"{platform.machine()} {platform.system()}, driver with {os.cpu_count()} CPUs; Ray cluster of {nodes} node(s), {total.get('CPU', 0):g} CPU, {total.get('GPU', 0):g} GPU"
    return {"description": desc, "cluster_cpus": total.get("CPU", 0), "cluster_gpus": total.get("GPU", 0), "nodes": nodes}


def check_gpus(res: Resources, source: str, on_cluster: bool) -> None:
    """A trial asking for GPUs that the Ray has none of would wait forever: refuse it on a local
    Ray; warn on a cluster, which may scale up to them."""
    if res.gpus_per_worker and not ray.cluster_resources().get("GPU", 0):
        message = f"{source}: resources.gpus_per_worker: {res.gpus_per_worker:g} GPU asked, but this Ray has no GPU"
        if not on_cluster:
            raise UserError(message + "; set gpus_per_worker: 0 to train on CPU")
        warnings.warn(message + "; trials wait until the cluster adds one", stacklevel=2)


def max_concurrent(spec: SweepSpec, override: int | None, streams: bool, on_cluster: bool) -> int:
    """Trials at once: as asked; else on a cluster no cap (NO_CAP: Tune queues every trial, and
    the queue is what the autoscaler grows the cluster for); else as many as the local Ray fits,
    with DATA_CPUS left for Ray Data when some split `streams`."""
    if override or spec.resources.max_concurrent_trials:
        return override or spec.resources.max_concurrent_trials
    if on_cluster:
        return NO_CAP
    res = spec.resources
    total = ray.cluster_resources()
    fits = int((total.get("CPU", 0) - DATA_CPUS * streams) // (res.workers_per_trial * res.cpus_per_worker))
    if res.gpus_per_worker:
        fits = min(fits, int(total.get("GPU", 0) // (res.workers_per_trial * res.gpus_per_worker)))
    return max(1, fits)


class GridCells(BasicVariantGenerator):
    """Tune's basic generator over the grid's listed cells, whose concurrency cap belongs to the
    command that runs it. Tune restores a searcher from its saved state on resume, cap included;
    keeping the running command's cap lets `resume --max-concurrent` widen a sweep, and lets a
    sweep started on a laptop spread over the cluster it is resumed on."""

    def set_state(self, state: dict[str, Any]) -> None:
        cap = self.max_concurrent
        super().set_state(state)
        self.max_concurrent = cap
