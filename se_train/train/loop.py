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
from pathlib import Path

import numpy as np
import torch
from torch import nn

from se_train.blocks import Resources

from se_train.trial_config import TrialConfig
from se_train.errors import UserError
from se_train.data.manifest import Manifest, load_manifest
from se_train.data.pipeline import BatchTransform, EpochBatches, read_split
from se_train.models.registry import build_model, count_parameters
from se_train.result import Key, record
from se_train.train import checkpoint
from se_train.train.divergence import Divergence, DivergenceCheck
from se_train.train.session import Session
from se_train.train.trainer import Trainer


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
