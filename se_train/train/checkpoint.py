"""Per-epoch checkpoints, file I/O on a state dict: the `Trainer`'s (model, optimizer, scheduler,
RNG states; the final epoch's: the weights only, unless `keep_optimizer_state`) and its epoch,
loadable with `torch.load(weights_only=True)` (no pickled code runs when a checkpoint is read),
beside the records of every epoch up to it, in JSON that `resume` reads without torch. Ray turns
the folder into its checkpoint (see `Session.report`)."""

from __future__ import annotations

import json
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import torch

from se_train.result import Key

CHECKPOINT_FILE = "state.pt"
RECORDS_FILE = "records.json"
# Put in a checkpoint folder by `resume` (sweep/tune_state.py): the epochs, up to the checkpoint's,
# that the trial's log lacks (a driver killed before Tune recorded or uploaded them), as a JSON list.
UNRECORDED_FILE = "unrecorded"


@contextmanager
def saved(state: dict[str, Any], records: list[dict[str, Any]]) -> Iterator[Path]:
    """`state` (a `Trainer.state_dict()` with its epoch) and `records` (every epoch's record so
    far, the checkpoint's own last) written to a temporary folder, removed after the block."""
    with tempfile.TemporaryDirectory() as tmp:
        torch.save(state, Path(tmp) / CHECKPOINT_FILE)
        (Path(tmp) / RECORDS_FILE).write_text(json.dumps(records))
        yield Path(tmp)


def load(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """A checkpoint folder's state, its records, and the records to report again (`UNRECORDED_FILE`)."""
    state = torch.load(folder / CHECKPOINT_FILE, map_location="cpu", weights_only=True)
    state["epoch"] = int(state["epoch"])
    records = json.loads((folder / RECORDS_FILE).read_text()) if (folder / RECORDS_FILE).exists() else []  # older checkpoints have none
    marker = folder / UNRECORDED_FILE
    again = set(json.loads(marker.read_text())) if marker.exists() else set()
    return state, records, [r for r in records if r[Key.EPOCH] in again]
