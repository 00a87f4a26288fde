"""`se-sweep bench model`: ResNet-50 against SE-ResNet-50 (and torchvision's) training speed."""

from __future__ import annotations

import time

import numpy as np
import torch
import torchvision

from se_train.bench import machine, refuse_beyond
from se_train.models.registry import build_model, count_parameters


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


# Memory of a training step, measured on CPU in fp32 (peak RSS of SE-ResNet-50 over batches of 8
# and 32 at 112 and 224 px: 115-140 MiB per 224-px image beyond the model): activations grow with
# the batch and the image's area; each model held keeps its weights, gradients and Adam's moments.
STEP_MIB_PER_IMAGE = 140  # at 224 px
MODEL_MIB = 420


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
    held = 5 if compile else 3
    refuse_beyond((batch * STEP_MIB_PER_IMAGE * (image_size / 224) ** 2 + held * MODEL_MIB) * 2**20, device,
                  f"--batch-size {batch} at --image-size {image_size}")
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
