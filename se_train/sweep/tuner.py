"""What Tune is given for a sweep's grid: the trainable with its resources, the searcher (every
cell once, or adaptive seeds), the scheduler, the stopper, checkpoints, retries, the live view and
each trial's folder name."""

from __future__ import annotations

from typing import Any

from ray import tune

from se_train import storage
from se_train.config import SweepSpec
from se_train.experiment import SweepRecord
from se_train.result import Key
from se_train.sweep.cluster import GridCells
from se_train.sweep.driver import run_trial
from se_train.sweep.live_view import CompactReporter
from se_train.sweep.seeds import AdaptiveSeeds
from se_train.sweep.stopper import DivergenceStopper
from se_train.trial_status import cell_name

# A multi-worker trial only waits on its TorchTrainer: it holds no CPU. With Tune's default of one
# CPU per trial, a 2-CPU machine is filled by driver + Train worker, Ray Data can never schedule
# its read tasks, and the sweep hangs forever (measured here with ray 2.60). Tune needs a
# non-empty bundle, so the driver reserves a little memory instead (logical: it only guides
# scheduling). A one-worker trial trains in its own process and holds that worker's resources.
DRIVER_RESOURCES = {"cpu": 0, "memory": 512 * 2**20}
TUNE_ENVIRONMENT = {
    # Tune snapshots its state after every checkpoint when num_to_keep is set, and warns when that
    # happens more than once in 5 s, which every short epoch does; locally a snapshot took 0.01 s.
    "TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S": "0",
    # Tune's newer console output ignores a progress reporter; the older one prints ours.
    "RAY_AIR_NEW_OUTPUT": "0",
}


def trial_dirname(trial) -> str:
    """The trial's folder: its cell as the live view names it, e.g. simple_cnn-digits-relu-SE-s0-<id>."""
    return f"{cell_name(trial.config).replace(' ', '-')}-{trial.trial_id}"


def make_trainable(record: SweepRecord):
    res = record.spec.resources
    trainable = tune.with_parameters(
        run_trial,
        resources=res,
        data_root=record.data_root,
        train_storage=storage.join(record.experiment, "train_runs"),
    )
    if res.workers_per_trial > 1:
        return tune.with_resources(trainable, DRIVER_RESOURCES)
    return tune.with_resources(trainable, {"cpu": res.cpus_per_worker, "gpu": res.gpus_per_worker})


def _run_config(spec: SweepSpec, callbacks: list[tune.Callback], searched: tuple[str, ...] = ()) -> tune.RunConfig:
    res = spec.resources
    planned = 0 if spec.seeds else len(spec.cells())  # adaptive seeds: the searcher counts what is to come
    return tune.RunConfig(
        callbacks=callbacks,
        stop=DivergenceStopper(),
        # A one-worker trial is its own worker: Tune retries it from its last checkpoint. A
        # multi-worker trial's TorchTrainer retries its workers itself.
        failure_config=tune.FailureConfig(max_failures=res.max_failures if res.workers_per_trial == 1 else 0),
        checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
        progress_reporter=CompactReporter(searched=searched, planned=planned),
        verbose=1,  # the reporter's block only: no per-trial result tables
    )


def tune_configs(
    spec: SweepSpec, folder: str, concurrency: int, callbacks: list[tune.Callback], searched: tuple[str, ...] = (), axes: list[str] = ()
) -> tuple[dict[str, Any], tune.TuneConfig, tune.RunConfig]:
    """`folder`: the Tune experiment's; `axes`: the sweep file's grid axes, which adaptive seeds
    pair cells by."""
    scheduler = None
    if spec.stopping.asha:
        scheduler = tune.schedulers.ASHAScheduler(
            time_attr=Key.EPOCH.value,
            metric=Key.VALID_ACC.value,
            mode="max",
            max_t=max(t.epochs for t in spec.trials()),
            grace_period=spec.stopping.asha.grace_period,
            reduction_factor=spec.stopping.asha.reduction_factor,
        )
    cells = spec.cells()
    if spec.seeds:
        # Seeds are suggested as effects stay open; each suggestion is a whole trial config.
        search_alg, param_space, num_samples = AdaptiveSeeds(spec, list(axes), folder, concurrency), {}, len(cells) * spec.seeds.max
    else:
        # The cells are listed exactly (a union of grids is not one Cartesian product), so the
        # search is Tune's basic generator evaluating each cell once, in file order. Tune wants
        # every preset key in the search space; each key's domain is the set of values the cells
        # give it, so no value is sampled and none triggers Tune's "not in domain" warning.
        param_space = {k: tune.choice(list(dict.fromkeys(c[k] for c in cells))) for k in cells[0]}
        search_alg, num_samples = GridCells(points_to_evaluate=cells, max_concurrent=concurrency), len(cells)
    tune_config = tune.TuneConfig(
        # Tune ignores max_concurrent_trials when given a search algorithm: the cap goes here.
        search_alg=search_alg,
        num_samples=num_samples,
        scheduler=scheduler,
        trial_dirname_creator=trial_dirname,
        # The next trial runs in the same process, with torch imported and CUDA up: with the
        # in-process one-worker trials, the fixed cost per trial fell from 30 s to 1.4-1.7 s on
        # 2 cores (results/bench). The trial function holds no state between trials.
        reuse_actors=True,
    )
    return param_space, tune_config, _run_config(spec, callbacks, searched)
