"""What a sweep's trials are measured against: one trial's training as a plain in-process PyTorch
loop, and one cell's seeds trained together as one batched model (`PackedSeeds`). Both do a trial's
maths (same model, optimiser, schedule, batch size, input transform; bf16 autocast and
channels_last on a GPU, as `precision: auto`) and read every step's loss, as the trial's divergence
check does; neither checkpoints, reports or streams."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from se_train.trial_config import TrialConfig
from se_train.data.manifest import Manifest, load_manifest
from se_train.data.pipeline import BatchTransform, read_split
from se_train.models.registry import build_model
from se_train.train.loop import make_optimizer


def _splits(folder: Path, device: torch.device) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """train and valid, read with pyarrow and held on the device."""
    return {s: tuple(t.to(device) for t in read_split(folder, s, None)) for s in ("train", "valid")}


def _model(manifest: Manifest, cfg: TrialConfig, device: torch.device) -> nn.Module:
    """The trial's model with the trial's initial weights (seeded as `fit` seeds them)."""
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model, num_classes=manifest.num_classes, input_shape=manifest.input_shape(None),
                        activation=cfg.activation, se=cfg.se, **cfg.option_fields()).to(device)
    return model.to(memory_format=torch.channels_last) if device.type == "cuda" else model


def _autocast(device: torch.device) -> torch.autocast:
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def _input(tf: BatchTransform, images: torch.Tensor, train: bool) -> torch.Tensor:
    x = tf(images, train=train)
    return x.contiguous(memory_format=torch.channels_last) if x.is_cuda else x


def plain_loop(folder: Path, cfg: TrialConfig, device: torch.device) -> None:
    """One trial's training, `cfg.epochs` epochs with a validation pass after each."""
    manifest = load_manifest(folder)
    data = _splits(folder, device)
    model = _model(manifest, cfg, device)
    x, y = data["train"]
    opt, schedule = make_optimizer(cfg, model, math.ceil(len(y) / cfg.batch_size))
    tf = BatchTransform.for_manifest(manifest, None, cfg.augment, device, cfg.seed)
    order = torch.Generator(device=device).manual_seed(cfg.seed)
    for _ in range(cfg.epochs):
        model.train()
        shuffled = torch.randperm(len(y), device=device, generator=order)
        for i in range(0, len(y), cfg.batch_size):
            idx = shuffled[i : i + cfg.batch_size]
            with _autocast(device):
                loss = nn.functional.cross_entropy(model(_input(tf, x[idx], True)).float(), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            schedule.step()
            loss.item()
        model.eval()
        with torch.no_grad(), _autocast(device):
            model(_input(tf, data["valid"][0], False)).argmax(1).sum().item()


class PackedSeeds:
    """One cell's seeds as one batched model: each parameter stacked over the seeds along a new
    first dimension (`torch.func.stack_module_state`), and one forward and backward pass for all of
    them through `vmap` over `functional_call`, as in PyTorch's model-ensembling tutorial. The
    optimiser over the stacked tensors is each seed's own: Adam's and SGD's updates are elementwise,
    and every seed takes the same steps at the same learning rate."""

    def __init__(self, manifest: Manifest, cfgs: list[TrialConfig], device: torch.device, steps_per_epoch: int) -> None:
        params, self.buffers = stack_module_state([_model(manifest, cfg, device) for cfg in cfgs])
        self.names = list(params)
        self.params = nn.ParameterList(params.values())  # a module, so make_optimizer takes it as a model
        self.base = _model(manifest, cfgs[0], torch.device("meta"))  # the architecture alone
        self.optimizer, self.schedule = make_optimizer(cfgs[0], self.params, steps_per_epoch)

    def __call__(self, images: torch.Tensor, same_images: bool = False) -> torch.Tensor:
        """Logits, seeds first: of each seed's own batch (seeds x batch x C x H x W), or with
        `same_images` of one batch all seeds see."""

        def one(params, buffers, x):
            return functional_call(self.base, (params, buffers), (x,))

        stacked = dict(zip(self.names, self.params))
        with _autocast(images.device):
            return vmap(one, in_dims=(0, 0, None if same_images else 0), randomness="different")(stacked, self.buffers, images)

    def step(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """One optimiser step of every seed on its own batch; each seed's loss."""
        logits = self(images).float()
        losses = nn.functional.cross_entropy(logits.flatten(0, 1), labels.flatten(), reduction="none")
        losses = losses.view(labels.shape).mean(1)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()  # the seeds share no parameter: each one's gradient is its own loss's
        self.optimizer.step()
        self.schedule.step()
        return losses.detach()


def packed_loop(folder: Path, cfgs: list[TrialConfig], device: torch.device) -> None:
    """The trials of `cfgs` (one cell, its seeds) trained together in this process as one
    `PackedSeeds`, each seed on its own shuffle, with one validation pass for all after each epoch."""
    manifest = load_manifest(folder)
    data = _splits(folder, device)
    x, y = data["train"]
    cfg = cfgs[0]
    packed = PackedSeeds(manifest, cfgs, device, math.ceil(len(y) / cfg.batch_size))
    tf = BatchTransform.for_manifest(manifest, None, cfg.augment, device, cfg.seed)
    orders = [torch.Generator(device=device).manual_seed(c.seed) for c in cfgs]
    for _ in range(cfg.epochs):
        shuffled = torch.stack([torch.randperm(len(y), device=device, generator=g) for g in orders])
        for i in range(0, len(y), cfg.batch_size):
            idx = shuffled[:, i : i + cfg.batch_size]
            images = _input(tf, x[idx].flatten(0, 1), True)
            packed.step(images.unflatten(0, idx.shape), y[idx]).tolist()
        with torch.no_grad():
            packed(_input(tf, data["valid"][0], False), same_images=True).argmax(-1).sum().item()
