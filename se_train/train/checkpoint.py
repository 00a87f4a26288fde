"""Per-epoch checkpoints, file I/O on a state dict: the `Trainer`'s (model, optimizer, scheduler,
RNG states; the final epoch's: the weights only, unless `keep_optimizer_state`), its epoch and the
epoch's record, in one folder, loadable
with `torch.load(weights_only=True)` (no pickled code runs when a checkpoint is read). Ray turns
the folder into its checkpoint (see `Session.report`)."""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

from se_train import experiment as layout

CHECKPOINT_FILE = "state.pt"


@contextmanager
def saved(state: dict[str, Any]) -> Iterator[Path]:
    """`state` (a `Trainer.state_dict()` with its epoch and the record of the report that carries
    it) written to a temporary folder, removed after the block."""
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(state, Path(tmp) / CHECKPOINT_FILE)
        yield Path(tmp)


def load(folder: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """A checkpoint folder's state, and its record where Tune never recorded it
    (`experiment.UNRECORDED_FILE`)."""
    state = torch.load(folder / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    state["epoch"] = int(state["epoch"])
    unrecorded = (folder / layout.UNRECORDED_FILE).exists() and state.get("record")  # checkpoints from before records have none
    return state, unrecorded or None
