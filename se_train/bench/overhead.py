"""`se-sweep bench overhead`: the fixed cost per trial, small trials as a sweep against the same
training as plain in-process PyTorch loops."""

from __future__ import annotations

import contextlib
import io
import resource
import tempfile
import threading
import time
from pathlib import Path

import torch

from se_train.bench import machine
from se_train.config import TrialConfig
from se_train.sweep_file import parse_sweep
from se_train.data.manifest import load_manifest
from se_train.data.pipeline import BatchTransform, input_shape, read_split
from se_train.data.prepare import prepare
from se_train.errors import UserError
from se_train.models.registry import build_model
from se_train.sweep import cluster, runner
from se_train.train.checkpoint import CHECKPOINT_FILE
from se_train.train.loop import make_optimizer


def _plain_loop(folder: Path, cfg: TrialConfig, device: torch.device) -> None:
    """The trial's training as a plain in-process PyTorch loop: the splits read with pyarrow and
    held on the device, the same model, optimiser, batch size and per-epoch validation."""
    manifest = load_manifest(folder)
    data = {s: tuple(t.to(device) for t in read_split(folder, s, None)) for s in ("train", "valid")}
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, num_classes=manifest.num_classes, input_shape=input_shape(manifest, None),
                        activation=cfg.activation, se=cfg.se, **cfg.option_fields()).to(device)
    opt, _ = make_optimizer(cfg, model, 1)
    tf = BatchTransform.for_manifest(manifest, None, False, device, 0)
    x, y = data["train"]
    for _ in range(cfg.epochs):
        order = torch.randperm(len(y), device=device)
        for i in range(0, len(y), cfg.batch_size):
            idx = order[i : i + cfg.batch_size]
            loss = torch.nn.functional.cross_entropy(model(tf(x[idx], train=True)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            loss.item()  # the trial reads every step's loss for its divergence check
        with torch.no_grad():
            model(tf(data["valid"][0], train=False)).argmax(1).sum().item()


def _ray_workers() -> int:
    """Ray worker processes on this machine now (their titles start with `ray::`)."""
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            count += cmdline.read_bytes().startswith(b"ray::")
        except OSError:  # the process ended while we looked
            pass
    return count


def bench_overhead(data_root: Path, trials: int = 8, concurrent: int = 1, gpu: bool = False, epochs: int = 5) -> str:
    """`trials` small trials (simple_cnn on digits, one seed each) as plain in-process PyTorch
    loops, one after another, and as one sweep `concurrent` at a time: both wall times, their
    ratio, the fixed cost per trial and the most Ray worker processes seen during the sweep."""
    folder = prepare("digits", data_root)
    device = torch.device("cuda" if gpu else "cpu")
    if gpu and not torch.cuda.is_available():
        raise UserError("bench overhead --gpu: torch sees no GPU here")
    cell = {"model": "simple_cnn", "dataset": "digits", "activation": "relu", "se": False}
    train = {"epochs": epochs, "lr": 1e-3, "schedule": "constant"}

    torch.set_num_threads(1)  # as the sweep's one-CPU trial
    t0 = time.perf_counter()
    for seed in range(trials):
        _plain_loop(folder, TrialConfig(**cell, **train, seed=seed), device)
    plain = time.perf_counter() - t0

    with tempfile.TemporaryDirectory() as tmp:
        t_ray = time.perf_counter()
        cluster.connect(None)
        ray_start = time.perf_counter() - t_ray
        resources = {"workers_per_trial": 1, "cpus_per_worker": 1, "max_concurrent_trials": concurrent}
        if gpu:
            resources["gpus_per_worker"] = 1 / concurrent
        raw = {"name": "bench", "data_root": str(data_root), "storage": tmp,
               "grid": {**{k: [v] for k, v in cell.items()}, "seed": list(range(trials))}, "train": train, "resources": resources}
        spec = parse_sweep(raw, "bench")
        peak, done = [0], threading.Event()

        def watch():
            while not done.wait(0.2):
                peak[0] = max(peak[0], _ray_workers())

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        t1 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # Tune's per-trial tables would bury the figures
            runner.run_sweep(spec, "bench")
        sweep = time.perf_counter() - t1
        done.set()
        watcher.join()
        files = [p for p in Path(tmp).rglob("*") if p.is_file()]
        disk = sum(p.stat().st_size for p in files)
        checkpoints = sum(p.stat().st_size for p in files if p.name == CHECKPOINT_FILE)
    where = torch.cuda.get_device_name(device) if gpu else "cpu"
    return "\n".join([
        f"machine: {machine()}; device: {where}",
        f"{trials} trials of simple_cnn on digits (1,197 train images), {epochs} epochs, batch 50; sweep {concurrent} at a time",
        f"plain PyTorch loops, one after another : {plain:8.2f} s",
        f"Ray start (once per sweep)             : {ray_start:8.2f} s",
        f"sweep (Ray running)                    : {sweep:8.2f} s",
        f"ratio sweep / plain loops              : {sweep / plain:8.2f} x",
        f"fixed cost per trial (sweep-plain)/{trials:<3} : {(sweep - plain) / trials:8.2f} s",
        f"most Ray worker processes at once      : {peak[0]:8d}",
        f"driver peak memory (RSS)               : {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:8.2f} GB",
        f"experiment folder, per trial           : {disk / trials / 2**20:8.2f} MB, of which checkpoints {checkpoints / trials / 2**20:.2f} MB",
    ])
