"""Per-epoch checkpoints: model, optimizer, scheduler, epoch and RNG states in one folder, loadable
with `torch.load(weights_only=True)` (no pickled code runs when a checkpoint is read). Ray turns
the folder into its checkpoint (see `Session.report`)."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

CHECKPOINT_FILE = "state.pt"


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


@contextmanager
def saved(model, optimizer, scheduler, scaler, epoch: int, augment_rng: torch.Generator) -> Iterator[Path]:
    """The training state written to a temporary folder, removed after the block."""
    state = {
        "model": _unwrap(model).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),  # empty unless fp16
        "epoch": epoch,
        "torch_rng": torch.get_rng_state(),
        "augment_rng": augment_rng.get_state(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(state, Path(tmp) / CHECKPOINT_FILE)
        yield Path(tmp)


def restore(folder: Path, model, optimizer, scheduler, scaler, augment_rng: torch.Generator) -> int:
    """Load a checkpoint folder into the training objects; return the last finished epoch."""
    state = torch.load(folder / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    _unwrap(model).load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if state.get("scaler"):  # checkpoints from before `precision` have none
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["torch_rng"])
    augment_rng.set_state(state["augment_rng"])
    return int(state["epoch"])
