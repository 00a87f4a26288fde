"""`se-sweep bench overhead`: the fixed cost per trial, small trials as a sweep against the same
training as plain in-process PyTorch loops. `timed_sweep` is the sweep half, also `bench pack`'s."""

from __future__ import annotations

import contextlib
import io
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from statistics import mean

import torch

from se_train.bench import machine
from se_train.bench.loops import plain_loop
from se_train.trial_config import TrialConfig
from se_train.data.prepare import prepare
from se_train.errors import UserError
from se_train.sweep import cluster, runner
from se_train.sweep_file import parse_sweep
from se_train.train.checkpoint import CHECKPOINT_FILE


def _ray_workers() -> int:
    """Ray worker processes on this machine now (their titles start with `ray::`)."""
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            count += cmdline.read_bytes().startswith(b"ray::")
        except OSError:  # the process ended while we looked
            pass
    return count


@contextlib.contextmanager
def _gpu_utilisation(samples: list[float]):
    """nvidia-smi's GPU utilisation (% of time a kernel ran), every 200 ms while the block runs,
    appended to `samples`."""
    if shutil.which("nvidia-smi") is None:  # a GPU machine without the tool: no samples, said so
        yield
        return
    smi = subprocess.Popen(["nvidia-smi", "--query-gpu=utilization.gpu", "--format=csv,noheader,nounits", "-lms", "200"],
                           stdout=subprocess.PIPE, text=True)
    try:
        yield
    finally:
        smi.terminate()
        samples += [float(line) for line in smi.communicate()[0].split() if line.strip().isdigit()]


@dataclass
class SweepTiming:
    ray_start: float  # seconds to start (or join) Ray, once per sweep
    seconds: float  # the sweep's wall time, Ray running
    peak_workers: int  # most Ray worker processes seen at once
    mb_per_trial: float  # the experiment folder
    checkpoint_mb_per_trial: float
    on_gpu: bool
    gpu_use: list[float]  # nvidia-smi utilisation samples, %

    def gpu_line(self, width: int = 39) -> str:
        label = f"{'GPU utilisation during the sweep':<{width}}:"
        if not self.gpu_use:
            return f"{label}      n/a ({'no nvidia-smi' if self.on_gpu else 'on the CPU'})"
        return (f"{label} {mean(self.gpu_use):8.0f} % mean, {max(self.gpu_use):.0f} % max "
                f"(nvidia-smi, {len(self.gpu_use)} samples 0.2 s apart)")


def timed_sweep(data_root: Path, cell: dict, train: dict, seeds: int, concurrent: int, gpu: bool) -> SweepTiming:
    """Seeds 0..`seeds`-1 of one cell as one sweep on a local Ray, `concurrent` trials at once
    (on a GPU each holds 1/`concurrent` of it), in a throwaway storage folder."""
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        cluster.connect(None)
        ray_start = time.perf_counter() - t0
        resources = {"workers_per_trial": 1, "cpus_per_worker": 1, "max_concurrent_trials": concurrent}
        if gpu:
            resources["gpus_per_worker"] = 1 / concurrent
        raw = {"name": "bench", "data_root": str(data_root), "storage": tmp,
               "grid": {**{k: [v] for k, v in cell.items()}, "seed": list(range(seeds))}, "train": train, "resources": resources}
        spec = parse_sweep(raw, "bench")
        peak, done, gpu_use = [0], threading.Event(), []

        def watch():
            while not done.wait(0.2):
                peak[0] = max(peak[0], _ray_workers())

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        t1 = time.perf_counter()
        with _gpu_utilisation(gpu_use) if gpu else contextlib.nullcontext(), contextlib.redirect_stdout(io.StringIO()):
            runner.run_sweep(spec, "bench")  # (Tune's per-trial tables would bury the figures)
        seconds = time.perf_counter() - t1
        done.set()
        watcher.join()
        files = [p for p in Path(tmp).rglob("*") if p.is_file()]
        disk = sum(p.stat().st_size for p in files) / seeds / 2**20
        checkpoints = sum(p.stat().st_size for p in files if p.name == CHECKPOINT_FILE) / seeds / 2**20
    return SweepTiming(ray_start, seconds, peak[0], disk, checkpoints, gpu, gpu_use)


def device_for(gpu: bool, what: str) -> torch.device:
    if gpu and not torch.cuda.is_available():
        raise UserError(f"bench {what} --gpu: torch sees no GPU here")
    return torch.device("cuda" if gpu else "cpu")


def bench_overhead(data_root: Path, trials: int = 8, concurrent: int = 1, gpu: bool = False, epochs: int = 5) -> str:
    """`trials` small trials (simple_cnn on digits, one seed each) as plain in-process PyTorch
    loops, one after another, and as one sweep `concurrent` at a time: both wall times, their
    ratio, the fixed cost per trial and the most Ray worker processes seen during the sweep."""
    device = device_for(gpu, "overhead")
    folder = prepare("digits", data_root)
    cell = {"model": "simple_cnn", "dataset": "digits", "activation": "relu", "se": False}
    train = {"epochs": epochs, "lr": 1e-3, "schedule": "constant"}

    torch.set_num_threads(1)  # as the sweep's one-CPU trial
    t0 = time.perf_counter()
    for seed in range(trials):
        plain_loop(folder, TrialConfig(**cell, **train, seed=seed), device)
    plain = time.perf_counter() - t0

    sweep = timed_sweep(data_root, cell, train, trials, concurrent, gpu)
    where = torch.cuda.get_device_name(device) if gpu else "cpu"
    return "\n".join([
        f"machine: {machine()}; device: {where}",
        f"{trials} trials of simple_cnn on digits (1,197 train images), {epochs} epochs, batch 50; sweep {concurrent} at a time",
        f"plain PyTorch loops, one after another : {plain:8.2f} s",
        f"Ray start (once per sweep)             : {sweep.ray_start:8.2f} s",
        f"sweep (Ray running)                    : {sweep.seconds:8.2f} s",
        f"ratio sweep / plain loops              : {sweep.seconds / plain:8.2f} x",
        f"fixed cost per trial (sweep-plain)/{trials:<3} : {(sweep.seconds - plain) / trials:8.2f} s",
        f"most Ray worker processes at once      : {sweep.peak_workers:8d}",
        sweep.gpu_line(),
        f"driver peak memory (RSS)               : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:8.2f} GB",
        f"experiment folder, per trial           : {sweep.mb_per_trial:8.2f} MB, of which checkpoints {sweep.checkpoint_mb_per_trial:.2f} MB",
    ])
