"""Per-epoch checkpoints: model, optimizer, scheduler, epoch and RNG states in one folder (the
final epoch's: the weights only, unless `keep_optimizer_state`), loadable
with `torch.load(weights_only=True)` (no pickled code runs when a checkpoint is read). Ray turns
the folder into its checkpoint (see `Session.report`)."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import torch
from torch import nn

from se_train import experiment as layout

if TYPE_CHECKING:
    from se_train.train.loop import Trainer

CHECKPOINT_FILE = "state.pt"


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


@contextmanager
def saved(t: Trainer, epoch: int, final: bool, record: dict[str, Any]) -> Iterator[Path]:
    """The training state written to a temporary folder, removed after the block, with `record`,
    the epoch's report that carries it. `final`: the trial has finished, so only what a user needs
    is kept, the model's weights; the optimizer state (twice the weights, with Adam) would only
    serve to train on."""
    state = {"model": _unwrap(t.model).state_dict(), "epoch": epoch, "record": record}
    if not final:
        state |= {
            "optimizer": t.optimizer.state_dict(),
            "scheduler": t.scheduler.state_dict(),
            "scaler": t.scaler.state_dict(),  # empty unless fp16
            "torch_rng": torch.get_rng_state(),
            "augment_rng": t.transform.generator.get_state(),
        }
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(state, Path(tmp) / CHECKPOINT_FILE)
        yield Path(tmp)


def restore(folder: Path, t: Trainer) -> tuple[int, dict[str, Any] | None]:
    """Load a checkpoint folder into the training objects; return the last finished epoch, and
    its record where Tune never recorded it (`experiment.UNRECORDED_FILE`). A final checkpoint has no training
    state: its trial had finished, and trains no more."""
    state = torch.load(folder / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    _unwrap(t.model).load_state_dict(state["model"])
    if "optimizer" in state:
        t.optimizer.load_state_dict(state["optimizer"])
        t.scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):  # checkpoints from before `precision` have none
            t.scaler.load_state_dict(state["scaler"])
        torch.set_rng_state(state["torch_rng"])
        t.transform.generator.set_state(state["augment_rng"])
    unrecorded = (folder / layout.UNRECORDED_FILE).exists() and state.get("record")  # checkpoints from before records have none
    return int(state["epoch"]), unrecorded or None
