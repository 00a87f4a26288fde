"""The training loop of one trial: the same code on one worker and on N DDP workers. It knows
nothing of Tune or Train: a `Session` says where it runs, and it reports each epoch's metrics and
checkpoint through it (`ray.tune.report` or `ray.train.report`).

Divergence is an outcome, not a crash: every step's loss and gradient norm are checked before the
step is taken, and at the first non-finite one (or a loss above `loss_ceiling`), or a non-finite
valid loss, the loop stops and reports `diverged=True` with the epoch, step, last finite loss and
gradient norm. A bad gradient on the very last step is caught too: it is never applied.
"""

from __future__ import annotations

import math
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from se_train.config import Resources, TrialConfig
from se_train.errors import UserError
from se_train.data.manifest import Manifest, load_manifest
from se_train.data.pipeline import BatchTransform, EpochBatches, fits_in_memory, input_shape, read_split, stored_shape
from se_train.models import build_model, count_parameters
from se_train.train import checkpoint
from se_train.train.session import Session


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
# Reported every epoch, besides epoch, lr, diverged, params, device, workers and precision.
REPORTED = ("train_loss", "train_acc", "valid_loss", "valid_acc", "test_loss", "test_acc", "epoch_time_s", "eval_time_s",
            "train_images", "train_images_per_s", "grad_norm", "diverged_step", "last_finite_loss")


@dataclass
class Divergence:
    step: int  # global optimizer steps taken when the loss or gradient went bad
    loss: float  # that loss (the step's, or the valid loss)
    last_finite_loss: float  # the loss of the last step taken
    grad_norm: float  # the bad gradient norm, or the last step's when the loss went bad


@dataclass
class DivergenceCheck:
    """Checks every step's loss and global gradient norm before the step is taken; keeps the last
    step's loss and norm for the report."""

    ceiling: float
    last_finite: float = math.nan
    grad_norm: float = math.nan

    def __call__(self, loss: float, grad_norm: float, step: int) -> Divergence | None:
        if not math.isfinite(grad_norm):
            return Divergence(step, loss, self.last_finite, grad_norm)
        if not math.isfinite(loss) or loss > self.ceiling:
            return Divergence(step, loss, self.last_finite, self.grad_norm)
        self.last_finite, self.grad_norm = loss, grad_norm
        return None


def make_optimizer(cfg: TrialConfig, model: nn.Module, steps_per_epoch: int):
    if cfg.optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
    total = cfg.epochs * steps_per_epoch
    factor = {
        "exponential": lambda step: cfg.decay_rate ** (step / cfg.decay_steps),
        "cosine": lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total) / total)),
        "constant": lambda step: 1.0,
    }[cfg.schedule]
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, factor)  # stepped once per optimizer step


def _all_sum(values: list[float], device: torch.device) -> list[float]:
    """Sum across workers (identity with one worker)."""
    if not (dist.is_available() and dist.is_initialized()):
        return values
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def _forward(model, images, transform: BatchTransform, train: bool, autocast) -> torch.Tensor:
    x = transform(images, train=train)
    if x.is_cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    with autocast:
        return model(x).float()


def train_one_epoch(
    model, optimizer, scheduler, scaler, batches: EpochBatches, transform: BatchTransform, autocast,
    check: DivergenceCheck, epoch: int, world: int, max_norm: float,
) -> tuple[dict[str, float], Divergence | None]:
    """One epoch; its stats summed over workers, and the divergence that stopped it, if any.
    The loss and gradient norm are read together every step, one device sync (the divergence
    check needs them before the step is taken); accuracy stays on the device until the end."""
    model.train()
    t0 = time.perf_counter()
    loss_sum = seen = 0.0
    correct = torch.zeros((), device=transform.mean.device)
    for images, labels in batches.epoch(epoch):
        logits = _forward(model, images, transform, True, autocast)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)  # the norm and the clipping are of the true gradients
        # DDP has averaged the gradients, so every worker sees the same norm; the loss is averaged
        # here: every worker must take the same decision.
        norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm)
        step_loss = loss.detach().float()
        if world > 1:
            step_loss = step_loss.clone()
            dist.all_reduce(step_loss)
            step_loss /= world
        value, norm_value = torch.stack([step_loss, norm.float()]).tolist()
        overflow = scaler.is_enabled() and math.isfinite(value) and not math.isfinite(norm_value)
        if not overflow and (divergence := check(value, norm_value, scheduler.last_epoch)):
            return {"train_loss": value, "epoch_time_s": time.perf_counter() - t0}, divergence
        scaler.step(optimizer)  # with fp16 an overflowed step is skipped and the scale lowered
        scaler.update()
        scheduler.step()
        loss_sum += value * len(labels)
        correct += (logits.argmax(1) == labels).sum()
        seen += len(labels)
    seconds = time.perf_counter() - t0
    loss_sum, correct, seen = _all_sum([loss_sum, correct.item(), seen], transform.mean.device)
    return {
        "train_loss": loss_sum / seen,
        "train_acc": correct / seen,
        "epoch_time_s": seconds,
        "train_images": seen,  # all workers together: every worker takes as many (DDP steps together)
        "train_images_per_s": seen / seconds,  # all workers together
        "grad_norm": check.grad_norm,
    }, None


@torch.no_grad()
def evaluate(model, batches: EpochBatches, transform: BatchTransform, autocast, epoch: int) -> tuple[float, float]:
    """Mean loss and accuracy over the whole split (summed across workers)."""
    model.eval()
    device = transform.mean.device
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    seen = 0
    for images, labels in batches.epoch(epoch):
        logits = _forward(model, images, transform, False, autocast)
        loss_sum += F.cross_entropy(logits, labels, reduction="sum")
        correct += (logits.argmax(1) == labels).sum()
        seen += len(labels)
    loss_sum, correct, seen = _all_sum([loss_sum.item(), correct.item(), seen], device)
    return loss_sum / seen, correct / seen


def _compile(model: nn.Module) -> None:
    """torch.compile in place (`Module.compile`): the state dict keeps its keys, so checkpoints
    load into a compiled or an eager model alike."""
    if not torch._dynamo.is_dynamo_supported():
        raise UserError(f"compile: torch.compile is not supported here (torch {torch.__version__}); set compile: false")
    model.compile()


def _split_batches(cfg: TrialConfig, dataset_dir: Path, manifest: Manifest, in_memory_mb: float, session: Session) -> dict[str, EpochBatches]:
    """train, valid and, where the dataset has one, test: held on the device when they fit, else
    streamed. Every worker gets as many train rows (DDP steps together); evaluation counts every
    row once."""
    shape = stored_shape(manifest, cfg.image_size)

    def source(split):
        if fits_in_memory(manifest, split, cfg.image_size, in_memory_mb):
            return read_split(dataset_dir, split, cfg.image_size, session.rank, session.world, even=split == "train")
        return session.stream(split)

    return {
        split: EpochBatches(source(split), shape, cfg.batch_size, shuffle=split == "train", seed=cfg.seed, device=session.device)
        for split in ("train", "valid", "test")
        if split in manifest.splits and (split != "test" or cfg.test_split)
    }


def fit(cfg: TrialConfig, dataset_dir: Path, res: Resources, session: Session) -> None:
    """Train one trial on this worker, reporting every epoch through `session`."""
    torch.set_num_threads(max(1, int(res.cpus_per_worker)))  # Ray sets OMP_NUM_THREADS=1: use the CPUs held
    device = session.device
    on_gpu = device.type == "cuda"
    manifest = load_manifest(dataset_dir)
    # The same initial weights on every worker, fixed by the seed, whatever ran before in this process.
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    model = build_model(
        cfg.model,
        num_classes=manifest.num_classes,
        input_shape=input_shape(manifest, cfg.image_size),
        activation=cfg.activation,
        se=cfg.se,
        **cfg.option_fields(),
    )
    params = count_parameters(model)
    if on_gpu:
        model = model.to(memory_format=torch.channels_last)
    if cfg.compile:
        _compile(model)
    model = session.prepare_model(model)

    batches = _split_batches(cfg, dataset_dir, manifest, res.in_memory_mb, session)
    steps_per_epoch = max(1, math.ceil(manifest.splits["train"].rows // session.world / cfg.batch_size))
    optimizer, scheduler = make_optimizer(cfg, model, steps_per_epoch)
    transform = BatchTransform.for_manifest(
        manifest, cfg.image_size, cfg.augment, device, seed=cfg.seed * 1009 + session.rank, raw=cfg.inputs == "raw"
    )
    precision = cfg.precision if cfg.precision != "auto" else ("bf16" if on_gpu else "fp32")
    autocast = torch.autocast(device.type, dtype=AUTOCAST_DTYPES.get(precision), enabled=precision != "fp32")
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    start = 1
    with session.last_checkpoint() as folder:
        if folder is not None:
            start = checkpoint.restore(folder, model, optimizer, scheduler, scaler, transform.generator) + 1

    base = {"params": params, "device": torch.cuda.get_device_name(device) if on_gpu else "cpu", "workers": session.world,
            "precision": precision}
    check = DivergenceCheck(cfg.loss_ceiling)
    for epoch in range(start, cfg.epochs + 1):
        stats, divergence = train_one_epoch(
            model, optimizer, scheduler, scaler, batches["train"], transform, autocast, check, epoch, session.world,
            cfg.grad_clip or math.inf,
        )
        # Every report has the same keys (NaN where an epoch has no value): Tune's progress.csv
        # takes its columns from a trial's first report, and a resumed trial's rows must fit them.
        metrics = {**base, "epoch": epoch, "lr": scheduler.get_last_lr()[0], "diverged": divergence is not None,
                   **dict.fromkeys(REPORTED, math.nan), **stats}
        if divergence is None:
            t = time.perf_counter()
            metrics["valid_loss"], metrics["valid_acc"] = evaluate(model, batches["valid"], transform, autocast, epoch)
            metrics["eval_time_s"] = time.perf_counter() - t
            if not math.isfinite(metrics["valid_loss"]):
                divergence = Divergence(scheduler.last_epoch, metrics["valid_loss"], check.last_finite, check.grad_norm)
        if divergence is not None:
            # Schedulers find their metric (NaN when training diverged); the report shows "diverged".
            session.report({**metrics, "diverged": True, "diverged_step": divergence.step,
                            "last_finite_loss": divergence.last_finite_loss, "grad_norm": divergence.grad_norm})
            return
        if epoch == cfg.epochs and "test" in batches:
            # The test split is read once, by the final model: it never chooses anything.
            metrics["test_loss"], metrics["test_acc"] = evaluate(model, batches["test"], transform, autocast, epoch)
        # Rank 0 writes the checkpoint; every worker must still report.
        saving = checkpoint.saved(model, optimizer, scheduler, scaler, epoch, transform.generator) if session.rank == 0 else nullcontext()
        with saving as folder:
            session.report(metrics, folder)
