"""What Tune is given for a sweep's grid: the trainable with its resources, the searcher (every
cell once, or adaptive seeds), the scheduler, the stopper, checkpoints, retries, the live view and
each trial's folder name."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ray import tune

from se_train import plugins, storage
from se_train import experiment as layout
from se_train.experiment import SweepRecord
from se_train.result import Key
from se_train.sweep.cluster import GridCells
from se_train.sweep.driver import run_trial
from se_train.sweep.live_view import CompactReporter
from se_train.sweep.plan import Stage
from se_train.sweep.seeds import AdaptiveSeeds
from se_train.sweep.stopper import DivergenceStopper
from se_train import cell
from se_train.trial_status import named_fields

TUNE_ENVIRONMENT = {
    # Tune snapshots its state after every checkpoint when num_to_keep is set, and warns when that
    # happens more than once in 5 s, which every short epoch does; locally a snapshot took 0.01 s.
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    # Tune's newer console output ignores a progress reporter; the older one prints ours.
    "RAY_AIR_NEW_OUTPUT": "0",
}


def trial_dirname(trial) -> str:
    """The trial's folder: its cell as the live view names it, e.g. simple_cnn-digits-relu-SE-s0-<id>."""
    return f"{cell.name(trial.config).replace(' ', '-')}-{trial.trial_id}"


def make_trainable(record: SweepRecord, stage: Stage):
    trainable = tune.with_parameters(
        run_trial,
        resources=record.spec.resources,
        data_root=record.data_root,
        train_storage=storage.join(record.experiment, layout.TRAIN_RUNS_DIR),
        plugins=plugins.in_trial(record.spec.plugins),
    )
    return tune.with_resources(trainable, stage.settings().trial_resources)


def tune_configs(
    stage: Stage, concurrency: int, callbacks: list[tune.Callback], axes: list[str], started: datetime | None = None
) -> tuple[dict[str, Any], tune.TuneConfig, tune.RunConfig]:
    """Tune's objects for `stage`; `axes`: the sweep file's grid axes, which adaptive seeds pair
    cells by; `started`: the sweep's start, the live view's clock."""
    spec, settings = stage.spec, stage.settings()
    scheduler = None
    if settings.asha:
        scheduler = tune.schedulers.ASHAScheduler(
            time_attr=Key.EPOCH.value,
            metric=Key.VALID_ACC.value,
            mode="max",
            max_t=settings.max_epochs,
            grace_period=settings.asha.grace_period,
            reduction_factor=settings.asha.reduction_factor,
        )
    cells = spec.cells()
    if settings.searcher == "adaptive seeds":
        # Seeds are suggested as effects stay open; each suggestion is a whole trial config.
        search_alg, param_space = AdaptiveSeeds(spec, list(axes), stage.folder, concurrency), {}
    else:
        # The cells are listed exactly (a union of grids is not one Cartesian product), so the
        # search is Tune's basic generator evaluating each cell once, in file order. Tune wants
        # every preset key in the search space; each key's domain is the set of values the cells
        # give it, so no value is sampled and none triggers Tune's "not in domain" warning.
        param_space = {k: tune.choice(list(dict.fromkeys(c[k] for c in cells))) for k in cells[0]}
        search_alg = GridCells(points_to_evaluate=cells, max_concurrent=concurrency)
    tune_config = tune.TuneConfig(
        # Tune ignores max_concurrent_trials when given a search algorithm: the cap goes here.
        search_alg=search_alg,
        num_samples=settings.samples,
        scheduler=scheduler,
        trial_dirname_creator=trial_dirname,
        # The next trial runs in the same process, with torch imported and CUDA up: with the
        # in-process one-worker trials, the fixed cost per trial fell from 30 s to 1.4-1.7 s on
        # 2 cores (results/bench). The trial function holds no state between trials.
        reuse_actors=True,
    )
    run_config = tune.RunConfig(
        name=stage.name,
        storage_path=stage.root,
        callbacks=callbacks,
        stop=DivergenceStopper(),
        failure_config=tune.FailureConfig(max_failures=settings.retries),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        progress_reporter=CompactReporter(named=named_fields(stage.spec, stage.searched), planned=settings.planned, started=started),
        verbose=1,  # the reporter's block only: no per-trial result tables
    )
    return param_space, tune_config, run_config
