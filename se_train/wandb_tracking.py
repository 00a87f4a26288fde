"""Weights & Biases tracking of a running sweep, through Ray Tune's own `WandbLoggerCallback`:
one W&B run per trial in the sweep's project, grouped by the sweep's name, with the cell's
settings as its config and every epoch's metrics. A resumed sweep continues each trial's run (its
id is the trial's). Credentials and mode are W&B's own: `wandb login` or WANDB_API_KEY, and
WANDB_MODE as set where `se-sweep run` starts (offline: each run is written in the experiment's
folder, `<experiment>/wandb/offline-run-*`, for `wandb sync` later)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from se_train import storage
from se_train.errors import UserError

NO_SERVER = ("offline", "disabled")  # W&B modes that need no credentials


def check(source: str) -> None:
    """Before any work: the package is there, and W&B can log in or need not."""
    try:
        import wandb
    except ImportError:
        raise UserError(f"{source}: tracking.wandb: needs the wandb package: pip install 'se-sweep[wandb]'") from None
    if os.environ.get("WANDB_MODE") in NO_SERVER or wandb.login(prompt=False):  # a key from the environment or `wandb login`
        return
    raise UserError(f"{source}: tracking.wandb: no W&B credentials here: run `wandb login`, set WANDB_API_KEY, "
                    "or set WANDB_MODE=offline to keep the runs in the experiment's folder")


def logger_options(project: str, sweep: str, experiment: str) -> dict[str, str]:
    """Tune's `WandbLoggerCallback` options for the sweep's trials (`ray_private.wandb_logger`),
    writing W&B's files under `folder(experiment)`. The mode set here reaches the logging actors,
    which Ray starts with the cluster's environment, not this process's."""
    where = folder(experiment, sweep)
    where.mkdir(parents=True, exist_ok=True)
    mode = os.environ.get("WANDB_MODE")
    return {"project": project, "group": sweep, "resume": "allow", "dir": str(where), **({"mode": mode} if mode else {})}


def folder(experiment: str, sweep: str) -> Path:
    """Where W&B keeps its files (its `wandb/` folder, an offline run's records): the experiment's
    folder, or for an experiment in a bucket the machine's temporary folder. Not the trial's
    staged folder, where Ray's actor would put them: Tune uploads that one before W&B finishes a
    run (ray.tune.tune: `checkpoint(force=True)`, then the callbacks' end), and fails on the links
    W&B keeps there."""
    if storage.is_uri(experiment):
        return Path(tempfile.gettempdir()) / f"se-sweep-{sweep}-wandb"
    return Path(experiment)
