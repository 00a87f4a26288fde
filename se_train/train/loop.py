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
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from se_train.config import Resources, TrialConfig
from se_train.errors import UserError
from se_train.data.manifest import Manifest, load_manifest
from se_train.data.pipeline import BatchTransform, EpochBatches, read_split
from se_train.models.registry import build_model, count_parameters
from se_train.result import Key, record
from se_train.train import checkpoint
from se_train.train.divergence import Divergence, DivergenceCheck
from se_train.train.session import Session


AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


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


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


@dataclass
class Trainer:
    """What one worker trains with: the epoch and the evaluation pass read it all from here."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    scaler: torch.amp.GradScaler
    transform: BatchTransform
    autocast: torch.autocast
    check: DivergenceCheck
    world: int
    max_norm: float

    def state_dict(self, weights_only: bool = False) -> dict[str, Any]:
        """What training resumes from, as torch modules give theirs. `weights_only`: the model's
        weights alone (a finished trial trains no more; Adam's state is twice the weights)."""
        state = {"model": _unwrap(self.model).state_dict()}
        if not weights_only:
            state |= {
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),  # empty unless fp16
                "torch_rng": torch.get_rng_state(),
                "augment_rng": self.transform.generator.get_state(),
            }
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """`state_dict`'s state back; one with weights only loads the weights."""
        _unwrap(self.model).load_state_dict(state["model"])
        if "optimizer" in state:
            self.optimizer.load_state_dict(state["optimizer"])
            self.scheduler.load_state_dict(state["scheduler"])
            if state.get("scaler"):  # checkpoints from before `precision` have none
                self.scaler.load_state_dict(state["scaler"])
            torch.set_rng_state(state["torch_rng"])
            self.transform.generator.set_state(state["augment_rng"])

    def _forward(self, images, train: bool) -> torch.Tensor:
        x = self.transform(images, train=train)
        if x.is_cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.autocast:
            return self.model(x).float()

    def train_epoch(self, batches: EpochBatches, epoch: int) -> tuple[dict[str, float], Divergence | None]:
        """One epoch; its stats summed over workers, and the divergence that stopped it, if any.
        The loss and gradient norm are read together every step, one device sync (the divergence
        check needs them before the step is taken); accuracy stays on the device until the end."""
        self.model.train()
        t0 = time.perf_counter()
        loss_sum = seen = 0.0
        correct = torch.zeros((), device=self.transform.mean.device)
        for images, labels in batches.epoch(epoch):
            logits = self._forward(images, True)
            loss = F.cross_entropy(logits, labels)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.optimizer)  # the norm and the clipping are of the true gradients
            # DDP has averaged the gradients, so every worker sees the same norm; the loss is averaged
            # here: every worker must take the same decision.
            norm = nn.utils.clip_grad_norm_(self.model.parameters(), self.max_norm)
            step_loss = loss.detach().float()
            if self.world > 1:
                step_loss = step_loss.clone()
                dist.all_reduce(step_loss)
                step_loss /= self.world
            value, norm_value = torch.stack([step_loss, norm.float()]).tolist()
            overflow = self.scaler.is_enabled() and math.isfinite(value) and not math.isfinite(norm_value)
            if not overflow and (divergence := self.check(value, norm_value, self.scheduler.last_epoch)):
                return {Key.TRAIN_LOSS: value, Key.EPOCH_TIME_S: time.perf_counter() - t0}, divergence
            self.scaler.step(self.optimizer)  # with fp16 an overflowed step is skipped and the scale lowered
            self.scaler.update()
            self.scheduler.step()
            loss_sum += value * len(labels)
            correct += (logits.argmax(1) == labels).sum()
            seen += len(labels)
        seconds = time.perf_counter() - t0
        loss_sum, correct, seen = _all_sum([loss_sum, correct.item(), seen], self.transform.mean.device)
        return {
            Key.TRAIN_LOSS: loss_sum / seen,
            Key.TRAIN_ACC: correct / seen,
            Key.EPOCH_TIME_S: seconds,
            Key.TRAIN_IMAGES: seen,  # all workers together: every worker takes as many (DDP steps together)
            Key.TRAIN_IMAGES_PER_S: seen / seconds,
            Key.GRAD_NORM: self.check.grad_norm,
        }, None

    @torch.no_grad()
    def evaluate(self, batches: EpochBatches, epoch: int) -> tuple[float, float, int]:
        """Mean loss and accuracy over the whole split (summed across workers), and its images."""
        self.model.eval()
        device = self.transform.mean.device
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), device=device)
        seen = 0
        for images, labels in batches.epoch(epoch):
            logits = self._forward(images, False)
            loss_sum += F.cross_entropy(logits, labels, reduction="sum")
            correct += (logits.argmax(1) == labels).sum()
            seen += len(labels)
        loss_sum, correct, seen = _all_sum([loss_sum.item(), correct.item(), seen], device)
        return loss_sum / seen, correct / seen, seen


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
    shape = manifest.stored_shape(cfg.image_size)

    def source(split, held):
        if held:
            return read_split(dataset_dir, split, cfg.image_size, session.rank, session.world, even=split == "train")
        return session.stream(split)

    return {
        split: EpochBatches(source(split, held), shape, cfg.batch_size, shuffle=split == "train", seed=cfg.seed, device=session.device)
        for split, held in manifest.trial_splits(cfg.image_size, cfg.test_split, in_memory_mb).items()
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
        input_shape=manifest.input_shape(cfg.image_size),
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
    t = Trainer(
        model, optimizer, scheduler, scaler=torch.amp.GradScaler(device.type, enabled=precision == "fp16"), transform=transform,
        autocast=torch.autocast(device.type, dtype=AUTOCAST_DTYPES.get(precision), enabled=precision != "fp32"),
        check=DivergenceCheck(cfg.loss_ceiling), world=session.world, max_norm=cfg.grad_clip or math.inf,
    )
    start, records, again = 1, [], []
    with session.last_checkpoint() as folder:
        if folder is not None:
            state, records, again = checkpoint.load(folder)
            t.load_state_dict(state)
            start = state["epoch"] + 1
    for report in again:
        # Epochs `resume` found missing from the trial's log: a driver killed after this checkpoint
        # was written, before Tune recorded (or uploaded) their reports. Reported again, as they were.
        session.report(report)

    base = {Key.PARAMS: params, Key.DEVICE: torch.cuda.get_device_name(device) if on_gpu else "cpu", Key.WORKERS: session.world,
            Key.PRECISION: precision}
    for epoch in range(start, cfg.epochs + 1):
        stats, divergence = t.train_epoch(batches["train"], epoch)
        stats |= {**base, Key.EPOCH: epoch, Key.LR: scheduler.get_last_lr()[0], Key.DIVERGED: divergence is not None}
        if divergence is None:
            t0 = time.perf_counter()
            stats[Key.VALID_LOSS], stats[Key.VALID_ACC], stats[Key.VALID_IMAGES] = t.evaluate(batches["valid"], epoch)
            stats[Key.EVAL_TIME_S] = time.perf_counter() - t0
            if not math.isfinite(stats[Key.VALID_LOSS]):
                divergence = Divergence(scheduler.last_epoch, stats[Key.VALID_LOSS], t.check.last_finite, t.check.grad_norm)
        if divergence is not None:
            # Schedulers find their metric (NaN when training diverged); the report shows "diverged".
            session.report(record(**{**stats, Key.DIVERGED: True, Key.DIVERGED_STEP: divergence.step,
                                      Key.LAST_FINITE_LOSS: divergence.last_finite_loss, Key.GRAD_NORM: divergence.grad_norm}))
            return
        if epoch == cfg.epochs and "test" in batches:
            # The test split is read once, by the final model: it never chooses anything.
            stats[Key.TEST_LOSS], stats[Key.TEST_ACC], stats[Key.TEST_IMAGES] = t.evaluate(batches["test"], epoch)
        # Rank 0 writes the checkpoint; every worker must still report.
        final = epoch == cfg.epochs and not cfg.keep_optimizer_state
        report = record(**stats)
        records.append(report)
        saving = checkpoint.saved({**t.state_dict(weights_only=final), "epoch": epoch}, records) if session.rank == 0 else nullcontext()
        with saving as folder:
            session.report(report, folder)
