"""`se-sweep bench pack`: what packing a cell's seeds into one trial would gain, measured before
anything is built. One cell's seeds (simple_cnn, ReLU, no SE, batch 50) trained four ways:

  (a) plain PyTorch loops, one after another, in this process: the baseline;
  (a2) the same loops side by side, one process each, as a user would start them by hand;
  (b) se-sweep trials, all at once (on a GPU each holds 1/seeds of it);
  (c) one process training every seed as one batched model (`loops.PackedSeeds`).

Each way's training images per second (all seeds together) and its ratio to (a)."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

import torch

from se_train.bench import machine, refuse_beyond
from se_train.bench.loops import packed_loop, plain_loop
from se_train.bench.overhead import device_for, timed_sweep
from se_train.trial_config import TrialConfig
from se_train.data.manifest import load_manifest
from se_train.data.prepare import prepare


def _one_loop(folder: Path, cfg: TrialConfig, device: str) -> None:
    torch.set_num_threads(1)  # as a one-CPU trial
    plain_loop(folder, cfg, torch.device(device))


def _side_by_side(folder: Path, cfgs: list[TrialConfig], device: torch.device) -> float:
    """Seconds from starting one fresh process per loop (spawned: CUDA cannot be forked) until
    the last one ends; each process's imports and start are counted, as a trial's are."""
    ctx = multiprocessing.get_context("spawn")
    t0 = time.perf_counter()
    procs = [ctx.Process(target=_one_loop, args=(folder, cfg, str(device))) for cfg in cfgs]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    if any(p.exitcode for p in procs):
        raise RuntimeError(f"a side-by-side loop failed (exit codes {[p.exitcode for p in procs]})")
    return time.perf_counter() - t0


# Peak RSS of one side-by-side loop's process: torch and se-sweep imported, a SimpleCNN built
# (measured with resource.getrusage on this machine: 644 MiB), before its data.
PROCESS_MIB = 650


def bench_pack(data_root: Path, dataset: str = "fashion_mnist", seeds: int = 8, epochs: int = 1, gpu: bool = False) -> str:
    refuse_beyond(seeds * PROCESS_MIB * 2**20, torch.device("cpu"), f"--trials {seeds} (a process per seed, side by side)")
    device = device_for(gpu, "pack")
    folder = prepare(dataset, data_root)
    cell = {"model": "simple_cnn", "dataset": dataset, "activation": "relu", "se": False}
    train = {"epochs": epochs, "batch_size": 50, "lr": 1e-3, "schedule": "constant"}
    cfgs = [TrialConfig(**cell, **train, seed=seed) for seed in range(seeds)]
    images = seeds * epochs * load_manifest(folder).splits["train"].rows

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    for cfg in cfgs:
        plain_loop(folder, cfg, device)
    plain = time.perf_counter() - t0
    side = _side_by_side(folder, cfgs, device)
    sweep = timed_sweep(data_root, cell, train, seeds, seeds, gpu)
    t0 = time.perf_counter()
    packed_loop(folder, cfgs, device)
    packed = time.perf_counter() - t0

    where = torch.cuda.get_device_name(device) if gpu else "cpu"
    row = lambda label, s: f"{label:<48}: {s:8.2f} s {images / s:12,.0f} images/s {plain / s:7.2f} x"  # noqa: E731
    return "\n".join([
        f"machine: {machine()}; device: {where}",
        f"{seeds} seeds of simple_cnn (ReLU, no SE) on {dataset} ({images // seeds // epochs:,} train images), "
        f"{epochs} epoch(s), batch 50; speed-up against (a)",
        row("(a)  plain loops, one after another", plain),
        row(f"(a2) plain loops side by side, {seeds} processes", side),
        row(f"(b)  se-sweep trials, {seeds} at once", sweep.seconds) + f"   (+ Ray start {sweep.ray_start:.1f} s, once)",
        row(f"(c)  one process, {seeds} seeds as one vmapped model", packed),
        f"(b) / (a2)                                      : {sweep.seconds / side:8.2f} x",
        sweep.gpu_line(48),
    ])
