"""Read an experiment folder from storage alone (no running Ray) into tidy DataFrames.

Sources, all written by Tune or by `se-sweep run`: `sweep.json` (spec and command), the newest
`experiment_state-*.json` (each trial's status, config and folder), and each trial's
`result.json` (one JSON line per reported epoch). Works on partial and interrupted sweeps, and on
`s3://` / `gs://` URIs through pyarrow's filesystems.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from se_train import storage
from se_train.config import SweepSpec, TrialConfig
from se_train.errors import UserError
from se_train.trial_status import run_status



@dataclass
class Experiment:
    meta: dict[str, Any]  # sweep.json
    axes: list[str]  # the grid axes, in file order
    epochs: pd.DataFrame  # one row per trial x reported epoch
    runs: pd.DataFrame  # one row per trial
    notes: list[str]  # what the report had to leave out, e.g. a line cut short by a kill


def trial_states(experiment: str) -> list[dict[str, Any]]:
    states = sorted(n for n in storage.list_names(experiment) if n.startswith("experiment_state-"))
    if not states:
        return []
    raw = json.loads(storage.read_text(storage.join(experiment, states[-1])))
    trials = []
    for trial_json, runtime_json in raw["trial_data"]:
        trial, runtime = json.loads(trial_json), json.loads(runtime_json)
        trials.append(
            {
                "trial_id": trial["trial_id"],
                "tune_status": trial["status"],
                "config": trial["config"],
                "folder": trial.get("relative_logdir") or "",
                "error_file": runtime.get("error_filename"),
            }
        )
    return trials


def trial_results(experiment: str, folder: str, notes: list[str]) -> list[dict[str, Any]]:
    """Every complete line of a trial's result.json. A process killed while Tune wrote it leaves
    the last line cut short: that line is left out, and said so in `notes`."""
    path = storage.join(experiment, folder, "result.json")
    if not folder or not storage.exists(path):
        return []
    lines = [line for line in storage.read_text(path).splitlines() if line.strip()]
    results = []
    for i, line in enumerate(lines):
        try:
            results.append(json.loads(line))
        except json.JSONDecodeError as e:
            if i < len(lines) - 1:
                raise UserError(f"{path}: line {i + 1} is not JSON ({e}); the file is damaged") from None
            notes.append(f"{folder}/result.json: its last line is incomplete (a killed write?) and was left out; the {len(results)} complete epoch(s) before it are kept")
    return results


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
    if not storage.exists(storage.join(experiment, storage.SWEEP_FILE)):
        raise UserError(f"{experiment}: not an se-sweep experiment (no {storage.SWEEP_FILE}); pass the folder `se-sweep run` printed")
    meta = json.loads(storage.read_text(storage.join(experiment, storage.SWEEP_FILE)))
    axes = SweepSpec.model_validate(meta["spec"]).axes()
    if "seed" not in axes:  # one seed: still a column, so runs pair and group the same way
        axes.append("seed")
    trials = trial_states(experiment)
    if not trials:
        raise UserError(f"{experiment}: the experiment has no trials yet (Tune saved no state); nothing to report")

    epoch_rows, run_rows, notes = [], [], []
    for t in trials:
        cfg = t["config"]
        results = trial_results(experiment, t["folder"], notes)
        cell = {"trial_id": t["trial_id"], **{a: cfg.get(a, TrialConfig.model_fields[a].default) for a in axes}}
        for r in results:
            epoch_rows.append({**cell, **{k: v for k, v in r.items() if k not in ("config",)}})
        run_rows.append({**cell, **_summarise(t, cfg, results, experiment)})
    epochs = pd.DataFrame(epoch_rows)
    runs = pd.DataFrame(run_rows)
    return Experiment(meta, axes, epochs, runs, notes)


def _summarise(t: dict, cfg: dict, results: list[dict], experiment: str) -> dict[str, Any]:
    planned = cfg.get("epochs", TrialConfig.model_fields["epochs"].default)
    ok = [r for r in results if not r.get("diverged")]
    last = results[-1] if results else {}
    status = run_status(t["tune_status"], cfg, results)
    df = pd.DataFrame(ok)
    best = df.loc[df["valid_acc"].idxmax()] if len(df) else {}
    return {
        "status": status,
        "epochs_done": int(last.get("epoch", 0)),
        "epochs_planned": planned,
        "min_train_loss": df["train_loss"].min() if len(df) else float("nan"),
        "min_valid_loss": df["valid_loss"].min() if len(df) else float("nan"),
        "max_train_acc": df["train_acc"].max() if len(df) else float("nan"),
        "max_valid_acc": df["valid_acc"].max() if len(df) else float("nan"),
        "best_epoch": int(best["epoch"]) if len(df) else None,
        "test_loss": last.get("test_loss", float("nan")),  # the final model's, on the test split
        "test_acc": last.get("test_acc", float("nan")),
        "train_time_s": sum(r.get("epoch_time_s", 0.0) for r in results),  # training only, no evaluation
        "images_per_s": df["train_images_per_s"].mean() if len(df) else float("nan"),
        "device": last.get("device"),
        "precision": last.get("precision"),  # None for runs from before `precision` was recorded
        "params": last.get("params"),
        "diverged_epoch": last.get("epoch") if status == "diverged" else None,
        "diverged_step": last.get("diverged_step") if status == "diverged" else None,
        "last_finite_loss": last.get("last_finite_loss") if status == "diverged" else None,
        "grad_norm": last.get("grad_norm") if status == "diverged" else None,
        "error": _error_line(experiment, t["folder"], t["error_file"]) if status == "errored" else None,
    }
