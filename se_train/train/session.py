"""Where a trial's loop runs: in the Tune trial's own process (one-worker trials) or on the
workers of a Ray Train `TorchTrainer` (N-worker DDP trials). The loop is the same code for both;
a `Session` gives it its rank, device and Ray's report and checkpoint API for the place it runs.

Why one-worker trials train in the Tune trial itself: a `TorchTrainer` starts a controller and a
worker process per trial (about 10 s each on 2 cores) and, with reused
trial actors, the trial's own process already has torch imported and CUDA up. Ray Train's local
mode (`num_workers=0`) runs in-process too, but in ray 2.60 it keeps only the last report: no
callbacks reach Tune, no checkpoint is persisted, no failure is retried. `ray.tune.report` does
all three, and `ray.train.report` does them for DDP trials.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import ray
import torch
from torch import nn


@dataclass
class Session:
    api: ModuleType  # ray.tune or ray.train: each has report, get_checkpoint and Checkpoint
    rank: int
    world: int
    device: torch.device
    prepare_model: Callable[[nn.Module], nn.Module]  # to the device (and DDP across workers)
    stream: Callable[[str], Any]  # split -> Ray Data iterator of this worker's rows (big splits)

    def report(self, metrics: dict[str, Any], checkpoint_folder: Path | None = None) -> None:
        checkpoint = self.api.Checkpoint.from_directory(str(checkpoint_folder)) if checkpoint_folder else None
        self.api.report(metrics, checkpoint=checkpoint)

    @contextmanager
    def last_checkpoint(self) -> Iterator[Path | None]:
        """The folder of the last reported checkpoint (after a failure or `resume`), else None."""
        checkpoint = self.api.get_checkpoint()
        with checkpoint.as_directory() if checkpoint is not None else nullcontext() as folder:
            yield Path(folder) if folder else None


_frozen = False  # whether this process's heap was frozen before its first trial


@contextmanager
def in_tune_trial(stream: Callable[[str], Any], compiled: bool) -> Iterator[Session]:
    """The Tune trial's own process, holding the one worker's CPUs and GPU share. The process is
    reused from trial to trial: each trial leaves it clean (`_clean_after`), however it ends."""
    global _frozen
    if not _frozen:
        # What is alive before the first trial is the process's own (modules, Ray, torch): frozen,
        # Python's own collections skip it. A full collection of that heap takes 0.2 s here. A
        # flag, not gc.get_freeze_count(): that walks the frozen heap, 0.05 s a trial (py-spy).
        gc.freeze()
        _frozen = True
    device = torch.device("cuda", 0) if ray.get_gpu_ids() else torch.device("cpu")  # Ray sets CUDA_VISIBLE_DEVICES
    try:
        yield Session(ray.tune, 0, 1, device, lambda model: model.to(device), stream)
    finally:
        _clean_after(compiled)


def _clean_after(compiled: bool) -> None:
    """What a trial leaves in its reused process goes before the next one starts: its compiled
    graphs and dynamo's caches (a later compiled trial would hit the recompile limit and run
    eager, its speed depending on the trial order), the reference cycle `Module.compile` leaves
    (the model stays alive until a collection), and the CUDA memory the model held (given back,
    for the other trials sharing the GPU). An eager CPU trial leaves nothing that needs it: a
    collection after each cost 0.1-0.2 s per trial. Seeds and threads are set by each trial."""
    if compiled:
        torch._dynamo.reset()
    if compiled or torch.cuda.is_initialized():
        gc.collect()
    if torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def in_train_worker() -> Session:
    """A Ray Train worker of a DDP trial."""
    import ray.train.torch

    ctx = ray.train.get_context()
    return Session(
        ray.train, ctx.get_world_rank(), ctx.get_world_size(), ray.train.torch.get_device(),
        ray.train.torch.prepare_model, ray.train.get_dataset_shard,
    )
