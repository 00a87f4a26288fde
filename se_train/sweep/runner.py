"""Run and resume a sweep: the checks before Ray starts (`checks`), the cluster and how many trials
at once (`cluster`), then one Ray Tune `Tuner` over the grid (what it is given: `tuner`), printing
the live view (`live_view`).

The experiment folder (`<storage>/<name>/`) holds Tune's state and one folder per trial (with its
last checkpoint), plus `sweep.json` (the validated spec and the command that ran it) and, for
multi-worker trials, `train_runs/` (each trial's Ray Train run with its checkpoints).
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from typing import Any

from ray import tune

from se_train import experiment as layout
from se_train import plugins, storage, tune_files, wandb_tracking
from se_train.result import Method
from se_train.config import SweepSpec
from se_train.errors import Interrupted, UserError
from se_train.sweep.checks import check_storage, joining, preflight, split_rows, streams
from se_train.sweep.cluster import check_gpus, connect, hardware, max_concurrent
from se_train.sweep.live_view import CompactReporter  # noqa: F401 - older sweeps' tuner.pkl files name these two here
from se_train.sweep.tuner import TUNE_ENVIRONMENT, make_trainable, tune_configs, trial_dirname as _trial_dirname  # noqa: F401
from se_train.sweep import ray_log, ray_private, search
from se_train.sweep.plan import Plan, Stage
from se_train.sweep.seeds import AdaptiveSeeds, ReopenedSeeds
from se_train.sweep.tune_state import repair


def run_sweep(
    spec: SweepSpec,
    source: str,
    *,
    storage_uri: str | None = None,
    address: str | None = None,
    num_cpus: int | None = None,
    concurrency: int | None = None,
    command: str = "",
    mlflow: str | None = None,
    verbose: bool = False,
) -> str:
    """Check, then run the whole grid; return the experiment path. `mlflow`: a tracking URI
    (overrides the file's `tracking.mlflow`); `verbose`: Ray's own log on the terminal too."""
    experiment = storage.join(check_storage(spec, source, storage_uri), spec.name)
    if layout.is_experiment(experiment):
        # The same command again continues the same sweep; a changed sweep must not mix into it.
        previous = layout.read_sweep(experiment)
        # Both validated: a setting added since (with its default) is no difference.
        before = previous.spec
        if before.model_dump() != spec.model_dump():
            _check_growth(before, spec, source, experiment)
            if _restorable(spec, experiment):
                layout.write_sweep(previous.model_copy(update={"spec": spec}))
                print(f"{experiment}: seeds.max raised from {before.seeds.max} to {spec.seeds.max}: its open effects get more seeds "
                      "(nothing finished is rerun; decided effects stay decided)")
                return resume_sweep(experiment, address=address, num_cpus=num_cpus, concurrency=concurrency, mlflow=mlflow, verbose=verbose)
        if _restorable(spec, experiment):
            print(f"{experiment} exists with this sweep: resuming it (finished trials are not rerun)")
            return resume_sweep(experiment, address=address, num_cpus=num_cpus, concurrency=concurrency, mlflow=mlflow, verbose=verbose)
        print(f"{experiment} exists with this sweep, but Tune saved no state there: starting it anew")
    checked = preflight(spec, source, storage_uri=storage_uri, address=address, num_cpus=num_cpus, mlflow=mlflow)
    manifests, tracking = checked.manifests, checked.tracking
    streamed = streams(spec, manifests)
    if not verbose:
        ray_log.to_file(ray_log.where(experiment, spec.name))
    connect(address, num_cpus, plugins.py_modules(spec.plugins))
    check_gpus(spec.resources, source, on_cluster=joining(address))
    record = layout.SweepRecord(
        spec=spec, sweep_file=source, experiment=experiment, command=command, started=datetime.now(timezone.utc).replace(microsecond=0),
        data_root=checked.data_root, datasets=split_rows(manifests), tracking=tracking if tracking.mlflow or tracking.wandb else None, hardware=hardware(),
        plugin_digests={entry: plugins.digest(entry) for entry in spec.plugins},
    )
    layout.write_sweep(record)
    cap = max_concurrent(spec, concurrency, streamed, on_cluster=joining(address))
    _run_stages(record, cap, _tracking(record))
    return experiment


def _check_growth(before: SweepSpec, spec: SweepSpec, source: str, experiment: str) -> None:
    """The one change a sweep file may make to a started sweep: `seeds.max` raised, under the
    anytime method, whose intervals hold at every number of seeds (a fixed-horizon boundary holds
    only for the looks it was set for)."""
    grown = before.seeds and spec.seeds and before.model_copy(update={"seeds": spec.seeds}).model_dump() == spec.model_dump()
    if not grown or spec.seeds.model_copy(update={"max": before.seeds.max}) != before.seeds:
        raise UserError(f"{source}: experiment {experiment} exists with a different sweep (only seeds.max may grow); "
                        "rename the sweep or pass another --storage")
    if spec.seeds.max < before.seeds.max:
        raise UserError(f"{source}: seeds.max: {spec.seeds.max} is below the {before.seeds.max} {experiment} started with; a sweep's max can only grow")
    if spec.seeds.method != Method.ANYTIME:
        raise UserError(f"{source}: seeds.max: {experiment} runs method {spec.seeds.method}, whose boundary holds only for the looks "
                        f"{before.seeds.start}..{before.seeds.max} it was set for; only an anytime sweep can grow (start a new one with method: anytime)")


def _tracking(record: layout.SweepRecord) -> list[tune.Callback]:
    """The sweep's MLflow and W&B callbacks, as it tracks (a search's tries are not tracked)."""
    tracking, spec = record.tracking, record.spec
    callbacks = []
    if tracking and tracking.mlflow:
        from se_train.sweep.mlflow_callback import MlflowTracking

        axes = spec.axes() + (["seed"] if spec.seeds else [])  # adaptive seeds: not a grid axis, still a run's tag
        callbacks.append(MlflowTracking(tracking.mlflow, tracking.experiment, record.experiment, spec.name, axes))
    if tracking and tracking.wandb:
        callbacks.append(ray_private.wandb_logger(**wandb_tracking.logger_options(tracking.wandb, spec.name, record.experiment)))
    return callbacks


def _restorable(spec: SweepSpec, experiment: str) -> bool:
    """Tune saved state for the comparison, or (with a search) for the search."""
    return tune.Tuner.can_restore(experiment) or bool(spec.search and tune.Tuner.can_restore(storage.join(experiment, search.SEARCH)))


def _all_finished(spec: SweepSpec, experiment: str) -> bool:
    """A grid whose every cell has a finished trial: nothing for Tune to do, so no Ray is started
    for it. Adaptive seeds and a search decide in their searchers what is left: those restore."""
    if spec.seeds or spec.search:
        return False
    trials = tune_files.read_state(experiment)
    return len(trials) >= len(spec.cells()) and all(t.finished for t in trials)


def _run_stages(record: layout.SweepRecord, cap: int, callbacks: list[tune.Callback]) -> None:
    """The plan's Tune runs, each continued where Tune saved it: with a `search:` block, the search
    (unless chosen.json says it is done), the choice, then the comparison; else the grid."""
    plan = Plan(record.spec, record.experiment)
    chosen = None
    if plan.spec.search:
        chosen = layout.read_chosen(record.experiment)
        if chosen is None:
            stage = plan.search()
            layout.write_sweep(record.model_copy(update={"spec": stage.spec, "experiment": stage.folder, "stage": "search",
                                                         "searched": list(stage.searched)}))
            print(f"search: {len(stage.spec.cells())} tries of {plan.spec.search.epochs} epoch(s), then the comparison")
            chosen = search.choose(record.experiment, plan.spec, _tune(record, stage, cap, []))
        for choice in chosen.cells:
            print(f"chosen for {choice.cell}: {choice.chosen or 'nothing: every try diverged or failed; left out of the comparison'}")
    _tune(record, plan.comparison(chosen), cap, callbacks)


def _tune(record: layout.SweepRecord, stage: Stage, cap: int, callbacks: list[tune.Callback]) -> tune.ResultGrid:
    """Run the stage, or continue it where Tune saved it; Tune's results of every trial, restored
    ones included."""
    folder = stage.folder
    for key, value in TUNE_ENVIRONMENT.items():  # read by Tune as it runs; a user's own setting wins
        os.environ.setdefault(key, value)
    ray_private.atomic_local_uploads()  # a driver killed mid-snapshot leaves Tune's state whole
    if tune.Tuner.can_restore(folder):
        # Tune restarts a sweep from scratch, rerunning every trial, when its state cannot be read:
        # a damaged state is refused in one line instead.
        tune_files.read_state(folder)
        for line in repair(folder, storage.join(record.experiment, layout.TRAIN_RUNS_DIR)):
            print(f"resume: {line}")
        tuner = tune.Tuner.restore(folder, trainable=make_trainable(record, stage), resume_unfinished=True, resume_errored=True)
        # A restored Tuner keeps the searcher it was pickled with, and Tune has no API to replace
        # it: the cap is set on that searcher, which keeps it through Tune's restore of its state.
        searcher = _searcher(tuner)
        searcher.max_concurrent = cap
        if isinstance(searcher, AdaptiveSeeds):
            searcher.grow(stage.spec.seeds)  # the sweep file's max, raised or not
            ray_private.replace_searcher(tuner, ReopenedSeeds(searcher))
    else:
        param_space, tune_config, run_config = tune_configs(stage, cap, callbacks, record.spec.axes(), record.started)
        tuner = tune.Tuner(make_trainable(record, stage), param_space=param_space, tune_config=tune_config, run_config=run_config)
    search_alg = _searcher(tuner)
    if isinstance(search_alg, AdaptiveSeeds):  # the live view reads the searcher Tune runs (restored, on resume)
        ray_private.reporter(tuner).seeds = search_alg
    with ray_log.without_tunes_resume_hint():
        results = tuner.fit()
    # Tune returns, its state saved, when Ctrl-C (or SIGUSR1) stops it: trials left unfinished,
    # or more to come from the searcher, mean the sweep did not reach its end.
    more = search_alg.to_come() if isinstance(search_alg, AdaptiveSeeds) else not search_alg.is_finished()
    if more or not all(trial.finished for trial in tune_files.read_state(folder)):
        raise Interrupted(record.experiment)
    return results


def _searcher(tuner: tune.Tuner) -> Any:
    """The searcher Tune runs: GridCells, or AdaptiveSeeds (bare, or in the ReopenedSeeds wrapper
    a resumed sweep pickled)."""
    search_alg = ray_private.searcher(tuner)
    return getattr(search_alg, "searcher", search_alg)


def resume_sweep(
    experiment: str,
    *,
    address: str | None = None,
    num_cpus: int | None = None,
    concurrency: int | None = None,
    mlflow: str | None = None,
    verbose: bool = False,
) -> str:
    """Continue an interrupted sweep; finished trials are not rerun, unfinished ones continue from
    their last checkpoint. Trials at once follow the same rule as `run_sweep`, for this command:
    `concurrency`, else the sweep file's, else what this Ray decides."""
    experiment = storage.normalize(experiment)
    meta_path = storage.join(experiment, layout.SWEEP_FILE)
    # Where the user names it now: a copied experiment, or its bucket by another endpoint form.
    record = layout.read_sweep(experiment).model_copy(update={"experiment": experiment})
    spec = record.spec
    plugins.load(spec.plugins, f"{meta_path}: spec.plugins")  # its trials to come run them
    for entry, before in record.plugin_digests.items():
        if (now := plugins.digest(entry)) != before:  # the trials to come run the plugin as it is now
            print(f"resume: plugin {entry} has changed since the sweep started (sha256 {str(before)[:12]} then, "
                  f"{str(now)[:12]} now); trials still to run use it as it is now")
    if record.data_root is None:
        raise UserError(f"{meta_path}: written by an older se-sweep (no data_root); resume it with the version that started it")
    if not _restorable(spec, experiment):
        raise UserError(
            f"{experiment}: Tune saved no state there (the sweep stopped before its first trial started), so there is "
            f"nothing to resume; `se-sweep run {record.sweep_file} --storage {storage.parent(experiment)}` starts it anew"
        )
    tracked = record.tracking.mlflow if record.tracking else None
    if mlflow and mlflow != tracked:
        # Tune restores the callbacks a sweep started with; a restored Tuner takes no new ones.
        started = f"logs to {tracked}" if tracked else "was started without MLflow"
        raise UserError(f"--mlflow {mlflow}: this sweep {started}, and a resumed sweep keeps the tracking it started with; drop --mlflow")
    if _all_finished(spec, experiment):
        print(f"resume: every trial of {experiment} has finished; nothing to rerun")
        return experiment
    # The checks `run` made, as they stand now: the data, the trackers and the machine may have changed.
    checked = preflight(spec, meta_path, storage_uri=storage.parent(experiment), data_root=record.data_root,
                        address=address, num_cpus=num_cpus, mlflow=tracked)
    if not verbose:
        ray_log.to_file(ray_log.where(experiment, spec.name))
    connect(address, num_cpus, plugins.py_modules(spec.plugins))
    check_gpus(spec.resources, meta_path, on_cluster=joining(address))
    cap = max_concurrent(spec, concurrency, streams(spec, checked.manifests), on_cluster=joining(address))
    callbacks = []
    if spec.search and not tune.Tuner.can_restore(experiment):
        # The comparison has not started: it starts now, with the sweep's MLflow tracking.
        callbacks = _tracking(record)
    _run_stages(record, cap, callbacks)
    return experiment


