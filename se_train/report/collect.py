"""Read an experiment folder, or an earlier report's folder, from storage alone (no running Ray)
into tidy DataFrames.

An experiment's sources, all written by Tune or by `se-sweep run`: `sweep.json` (spec and
command), the newest `experiment_state-*.json` (each trial's status, config and folder), and each
trial's `result.json` (one JSON line per reported epoch). Works on partial and interrupted sweeps,
and on `s3://` / `gs://` URIs through pyarrow's filesystems. A report's folder holds the same
tables as `runs.parquet` and `epochs.parquet`, and its experiments' `sweep.json` in `sources.json`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from se_train import experiment as layout
from se_train import tune_files
from se_train import storage
from se_train.config import SweepSpec
from se_train.trial_config import TrialConfig
from se_train.errors import UserError
from se_train.trial_status import run_status
from se_train.result import Key, Run, Outcome

CELL = ["dataset", "model", "se", "activation"]
# Every setting besides the cell and the seed that can change a run's numbers (`compile` changes
# only its speed, `test_split` only whether the test split is evaluated, `keep_optimizer_state`
# only what its last checkpoint holds), and the training split's row count: with the cell and the
# device they say what a run measured, so a merged report pools runs only where all of them agree.
SETTINGS = [f for f in TrialConfig.model_fields if f not in (*CELL, "seed", "compile", "test_split", "keep_optimizer_state")] + [Run.TRAIN_ROWS]


@dataclass
class Experiment:
    sources: list[layout.SweepRecord]  # each experiment's sweep.json, in the order read
    axes: list[str]  # what tells rows apart: the grid axes in file order, then settings that vary
    epochs: pd.DataFrame  # one row per trial x reported epoch
    runs: pd.DataFrame  # one row per trial: its cell, outcome, settings and provenance
    notes: list[str]  # what the report had to leave out, e.g. a line cut short by a kill

    @property
    def record(self) -> layout.SweepRecord:
        """The sweep.json of a one-experiment report."""
        return self.sources[0]


def read(location: str) -> Experiment:
    """An experiment folder or a report's folder, told apart by what they hold."""
    location = storage.normalize(location)
    if not storage.exists(location):
        raise UserError(f"{location}: no such folder")
    if layout.is_experiment(location):
        return collect(location)
    if storage.exists(storage.join(location, layout.RUNS_TABLE)):
        return read_report(location)
    raise UserError(
        f"{location}: neither an se-sweep experiment (no {layout.SWEEP_FILE}) nor a report's folder (no {layout.RUNS_TABLE}); "
        "pass the folder `se-sweep run` printed or one `se-sweep report` wrote"
    )


def read_report(folder: str) -> Experiment:
    """The tables an earlier `se-sweep report` wrote, with the grid axes of its experiments."""
    sources = layout.read_sources(folder)
    runs, epochs = layout.read_table(folder, layout.RUNS_TABLE), layout.read_table(folder, layout.EPOCHS_TABLE)
    for table, name, needed in ((runs, layout.RUNS_TABLE, (Run.TRIAL_ID, Run.EXPERIMENT, Run.STATUS, *CELL, "seed", *SETTINGS)),
                                (epochs, layout.EPOCHS_TABLE, (Run.TRIAL_ID, Key.EPOCH))):
        missing = [c for c in needed if c not in table]
        if missing:
            raise UserError(f"{storage.join(folder, name)}: no column {', '.join(missing)}; {layout.RERUN_REPORT}")
    axes = list(dict.fromkeys(a for record in sources for a in _axes(record.spec)))
    return Experiment(sources, axes, epochs, runs, [])


def _axes(spec: SweepSpec) -> list[str]:
    axes = spec.axes()
    return axes if "seed" in axes else [*axes, "seed"]  # one seed: still a column, so runs pair and group the same way


def _error_line(experiment: str, folder: str, error_file: str | None) -> str:
    path = storage.join(experiment, folder, error_file or "error.txt")
    if not storage.exists(path):
        return "error (no error file)"
    lines = [l for l in storage.read_text(path).splitlines() if l.strip()]
    # Tune writes the traceback; its last line names the exception.
    return lines[-1].strip() if lines else "error"


def collect(experiment: str) -> Experiment:
    """The tidy tables of one experiment; clear errors for a folder that is not one, or is empty."""
    experiment = storage.normalize(experiment)
    record = layout.read_sweep(experiment)
    axes = _axes(record.spec)
    trials = tune_files.read_state(experiment)
    if not trials:
        raise UserError(f"{experiment}: the experiment has no trials yet (Tune saved no state); nothing to report")

    epoch_rows, run_rows, notes = [], [], []
    for t in trials:
        cfg = t.config
        results = tune_files.read_results(experiment, t.folder, notes)
        settings = _settings(cfg, record)
        cell = {Run.TRIAL_ID: t.trial_id, Run.EXPERIMENT: record.experiment, **{a: settings[a] for a in axes}}
        for r in results:
            epoch_rows.append({**cell, **{k: v for k, v in r.items() if k not in ("config",)}})
        run_rows.append({**cell, **_summarise(t, results, experiment), **settings, **_provenance(record)})
    epochs = pd.DataFrame(epoch_rows)
    runs = pd.DataFrame(run_rows)
    return Experiment([record], axes, epochs, runs, notes)


def _settings(cfg: dict[str, Any], record: layout.SweepRecord) -> dict[str, Any]:
    """The trial's whole config, defaults filled in (a model's own options too, None for its
    default), and its training split's row count (from the
    manifest as the sweep started; None for sweeps from before it was recorded). Not `precision`:
    a run's is the one it reported (`auto` is bf16 on a GPU, fp32 on a CPU)."""
    settings = {f: cfg.get(f, field.default) for f, field in TrialConfig.model_fields.items() if f != "precision"}
    settings.update({name: cfg.get(name) for name in record.spec.own_options()})
    settings[Run.TRAIN_ROWS] = record.datasets.get(settings["dataset"], {}).get("train")
    return settings


def _provenance(record: layout.SweepRecord) -> dict[str, Any]:
    return {Run.SWEEP: record.name, "hardware": record.hardware.description if record.hardware else None}


def _summarise(t: tune_files.SavedTrial, results: list[dict], experiment: str) -> dict[str, Any]:
    cfg = t.config
    planned = TrialConfig.planned(cfg, "epochs")
    ok = [r for r in results if not r.get(Key.DIVERGED)]
    last = results[-1] if results else {}
    status = run_status(t.status, cfg, results)
    nan = float("nan")
    # Plain Python, not a DataFrame per trial: a 2,000-trial study spent 2 s building them.
    best = max(ok, key=lambda r: r[Key.VALID_ACC]) if ok else {}
    rates = [r[Key.TRAIN_IMAGES_PER_S] for r in ok if Key.TRAIN_IMAGES_PER_S in r]
    return {
        Run.STATUS: status,
        Run.EPOCHS_DONE: int(last.get(Key.EPOCH, 0)),
        Run.EPOCHS_PLANNED: planned,
        Run.MIN_TRAIN_LOSS: min((r[Key.TRAIN_LOSS] for r in ok), default=nan),
        Run.MIN_VALID_LOSS: min((r[Key.VALID_LOSS] for r in ok), default=nan),
        Run.MAX_TRAIN_ACC: max((r[Key.TRAIN_ACC] for r in ok), default=nan),
        Run.MAX_VALID_ACC: best.get(Key.VALID_ACC, nan),
        Run.BEST_EPOCH: int(best[Key.EPOCH]) if best else None,
        Key.TEST_LOSS: last.get(Key.TEST_LOSS, nan),  # the final model's, on the test split
        Key.TEST_ACC: last.get(Key.TEST_ACC, nan),
        Key.VALID_IMAGES: best.get(Key.VALID_IMAGES, nan),  # the step of max_valid_acc (NaN: recorded before it was)
        Key.TEST_IMAGES: last.get(Key.TEST_IMAGES, nan),
        Run.TRAIN_TIME_S: sum(r.get(Key.EPOCH_TIME_S, 0.0) for r in results),  # training only, no evaluation
        Run.IMAGES_PER_S: sum(rates) / len(rates) if rates else nan,
        Key.DEVICE: last.get(Key.DEVICE),
        Key.PRECISION: last.get(Key.PRECISION),  # None for runs from before `precision` was recorded
        Key.PARAMS: last.get(Key.PARAMS),
        Run.DIVERGED_EPOCH: last.get(Key.EPOCH) if status == Outcome.DIVERGED else None,
        Key.DIVERGED_STEP: last.get(Key.DIVERGED_STEP) if status == Outcome.DIVERGED else None,
        Key.LAST_FINITE_LOSS: last.get(Key.LAST_FINITE_LOSS) if status == Outcome.DIVERGED else None,
        Key.GRAD_NORM: last.get(Key.GRAD_NORM) if status == Outcome.DIVERGED else None,
        Run.ERROR: _error_line(experiment, t.folder, t.error_file) if status == Outcome.ERRORED else None,
    }
