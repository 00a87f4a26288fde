"""What one worker trains with (`Trainer`): its model, optimizer, schedule, scaler, transform and
divergence check, one epoch and one evaluation pass, and its state for a checkpoint. The same on
one worker and on N DDP workers, whose sums it all-reduces."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

from se_train.data.pipeline import BatchTransform, EpochBatches
from se_train.result import Key
from se_train.train.divergence import Divergence, DivergenceCheck


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
