"""The per-worker training loop (Ray Train `train_loop_per_worker`). Knows nothing of Tune: it
reports per-epoch metrics and checkpoints through `ray.train.report`.

Divergence is an outcome, not a crash: the loss is checked every step, and at the first
non-finite loss (or one above `loss_ceiling`) the loop stops and reports `diverged=True` with the
epoch, step, last finite loss and gradient norm.
"""

from __future__ import annotations

import math
from contextlib import nullcontext
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from se_train.config import TrialConfig
from se_train.data.manifest import load_manifest
from se_train.data.pipeline import BatchTransform, EpochBatches, stored_shape
from se_train.models import build_model, count_parameters
from se_train.train import checkpoint


@dataclass
class Divergence:
    step: int  # global optimizer step at which the loss went bad
    loss: float  # the bad loss
    last_finite_loss: float
    grad_norm: float  # global gradient norm of the last finite step


def model_options(cfg: TrialConfig, image_size: int) -> dict[str, Any]:
    """The architecture-specific keywords of `build_model` for this trial."""
    if cfg.model == "simple_cnn":
        return {"image_size": image_size}
    return {"stem": cfg.stem, "head": cfg.head, "zero_init_last_bn": cfg.zero_init_last_bn}


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


def train_loop_per_worker(config: dict[str, Any]) -> None:
    """Train one trial on this worker. `config`: a TrialConfig dict plus `dataset_dir`,
    `threads` (this worker's CPUs) and `in_memory` (per split given to the trainer: hold on the
    device or stream)."""
    cfg = TrialConfig(**config["trial"])
    # Ray Train sets OMP_NUM_THREADS=1 on workers: use the CPUs this worker actually holds.
    torch.set_num_threads(max(1, int(config["threads"])))
    ctx = ray.train.get_context()
    rank, world = ctx.get_world_rank(), ctx.get_world_size()
    device = ray.train.torch.get_device()
    on_gpu = device.type == "cuda"

    manifest = load_manifest(Path(config["dataset_dir"]))
    shape = stored_shape(manifest, cfg.image_size)
    image_size = cfg.image_size or shape[0]
    torch.manual_seed(cfg.seed)  # the same initial weights on every worker, fixed by the seed
    model = build_model(
        cfg.model,
        num_classes=manifest.num_classes,
        in_channels=manifest.channels,
        activation=cfg.activation,
        se=cfg.se,
        se_reduction=cfg.se_reduction,
        **model_options(cfg, image_size),
    )
    params = count_parameters(model)
    if on_gpu:
        model = model.to(memory_format=torch.channels_last)
    model = ray.train.torch.prepare_model(model)

    rows_per_worker = manifest.splits["train"].rows // world
    steps_per_epoch = max(1, math.ceil(rows_per_worker / cfg.batch_size))
    optimizer, scheduler = make_optimizer(cfg, model, steps_per_epoch)
    transform = BatchTransform.for_manifest(
        manifest, cfg.image_size, cfg.augment, device, seed=cfg.seed * 1009 + rank, raw=cfg.inputs == "raw"
    )
    batches = {
        split: EpochBatches(
            ray.train.get_dataset_shard(split),
            shape,
            cfg.batch_size,
            in_memory=config["in_memory"][split],
            shuffle=split == "train",
            seed=cfg.seed,
            device=device,
        )
        for split in config["in_memory"]  # train, valid and, where the dataset has one, test
    }

    start = 1
    if (ckpt := ray.train.get_checkpoint()) is not None:
        start = checkpoint.restore(ckpt, model, optimizer, scheduler, transform.generator) + 1

    autocast = torch.autocast("cuda", dtype=torch.bfloat16, enabled=on_gpu)
    device_name = torch.cuda.get_device_name(device) if on_gpu else "cpu"
    max_norm = cfg.grad_clip or math.inf
    # The loss is read every step (the divergence check needs it); accuracy and gradient norm stay
    # on the device and are read once per epoch, so the step adds no other device sync.
    last_finite, grad_norm = math.nan, torch.tensor(math.nan)
    for epoch in range(start, cfg.epochs + 1):
        model.train()
        t0 = time.perf_counter()
        loss_sum = seen = 0.0
        correct = torch.zeros((), device=device)
        divergence = None
        for images, labels in batches["train"].epoch(epoch):
            x = transform(images, train=True)
            if on_gpu:
                x = x.contiguous(memory_format=torch.channels_last)
            with autocast:
                logits = model(x)
                loss = F.cross_entropy(logits.float(), labels)
            step_loss = loss.detach()
            if world > 1:  # every worker must take the same decision
                step_loss = step_loss.clone()
                dist.all_reduce(step_loss)
                step_loss /= world
            value = step_loss.item()
            if not math.isfinite(value) or value > cfg.loss_ceiling:
                divergence = Divergence(scheduler.last_epoch, value, last_finite, float(grad_norm))
                break
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            grad_norm = nn.utils.clip_grad_norm_(model.parameters(), max_norm)
            optimizer.step()
            scheduler.step()
            last_finite = value
            loss_sum += value * len(labels)
            correct += (logits.argmax(1) == labels).sum()
            seen += len(labels)
        train_time = time.perf_counter() - t0
        loss_sum, correct, seen = _all_sum([loss_sum, correct.item(), seen], device)
        base = {
            "epoch": epoch,
            "lr": scheduler.get_last_lr()[0],
            "params": params,
            "device": device_name,
            "workers": world,
            "epoch_time_s": train_time,
        }
        if divergence is not None:
            ray.train.report(
                {
                    **base,
                    "diverged": True,
                    "train_loss": divergence.loss,
                    # Present so schedulers find their metric; the report shows "diverged", not these.
                    "train_acc": math.nan,
                    "valid_loss": math.nan,
                    "valid_acc": math.nan,
                    "diverged_step": divergence.step,
                    "last_finite_loss": divergence.last_finite_loss,
                    "grad_norm": divergence.grad_norm,
                }
            )
            return
        t1 = time.perf_counter()
        valid_loss, valid_acc = evaluate(model, batches["valid"], transform, autocast, device, epoch)
        metrics = {
            **base,
            "diverged": False,
            "train_loss": loss_sum / seen,
            "train_acc": correct / seen,
            "valid_loss": valid_loss,
            "valid_acc": valid_acc,
            "eval_time_s": time.perf_counter() - t1,
            "train_images_per_s": seen / train_time,  # all workers together
            "grad_norm": float(grad_norm),
        }
        if epoch == cfg.epochs and "test" in batches:
            # The test split is read once, by the final model: it never chooses anything.
            metrics["test_loss"], metrics["test_acc"] = evaluate(model, batches["test"], transform, autocast, device, epoch)
        # Rank 0 writes the checkpoint; every worker must still call report.
        saving = checkpoint.checkpoint_dir(model, optimizer, scheduler, epoch, transform.generator) if rank == 0 else nullcontext()
        with saving as ckpt:
            ray.train.report(metrics, checkpoint=ckpt)


@torch.no_grad()
def evaluate(model, batches: EpochBatches, transform: BatchTransform, autocast, device, epoch: int) -> tuple[float, float]:
    """Mean loss and accuracy over the whole split (summed across workers)."""
    model.eval()
    loss_sum = torch.zeros((), device=device)
    correct = torch.zeros((), device=device)
    seen = 0
    for images, labels in batches.epoch(epoch):
        x = transform(images, train=False)
        if device.type == "cuda":
            x = x.contiguous(memory_format=torch.channels_last)
        with autocast:
            logits = model(x).float()
        loss_sum += F.cross_entropy(logits, labels, reduction="sum")
        correct += (logits.argmax(1) == labels).sum()
        seen += len(labels)
    loss_sum, correct, seen = _all_sum([loss_sum.item(), correct.item(), seen], device)
    return loss_sum / seen, correct / seen
