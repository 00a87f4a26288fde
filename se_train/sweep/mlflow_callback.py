"""MLflow tracking of a running sweep, as a Ray Tune callback on the driver: one nested run per
trial under the sweep's parent run, with the cell's settings as params, every epoch's metrics
(the epoch as the step) and tags for the grid axes, divergence, device and sweep. A resumed
sweep continues the same runs: they are found again by their tags, never created twice.

Written with `mlflow` itself rather than Ray's `MLflowLoggerCallback`, which logs each trial as a
top-level run and has no parent run to nest them under or to find them again by.
"""

from __future__ import annotations

import math
import time
from typing import Any

from ray import tune

from se_train.mlflow_runs import TRIAL_TAG, client_for, parent_run
from se_train.trial_status import cell_name

# Tune's own bookkeeping in every result (and the tags), left out of the metrics
NOT_METRICS = {"config", "trial_id", "experiment_id", "date", "hostname", "node_ip", "pid", "done", "timestamp",
               "training_iteration", "time_this_iter_s", "time_total_s", "time_since_restore",
               "iterations_since_restore", "checkpoint_dir_name", "should_checkpoint", "device", "diverged"}


class MlflowTracking(tune.Callback):
    """Tune callback: trial runs nested under the sweep's parent run."""

    def __init__(self, uri: str, experiment_name: str, experiment: str, sweep: str, axes: list[str]) -> None:
        self.uri, self.experiment_name, self.experiment, self.sweep, self.axes = uri, experiment_name, experiment, sweep, axes
        self._client = self._parent = self._exp_id = None
        self._runs: dict[str, str] = {}

    def __getstate__(self) -> dict[str, Any]:  # pickled into Tune's state for `resume`: no client
        return {k: v for k, v in self.__dict__.items() if k in ("uri", "experiment_name", "experiment", "sweep", "axes")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def setup(self, **info) -> None:
        self._client = client_for(self.uri)
        self._parent = parent_run(self._client, self.experiment_name, self.experiment, self.sweep)
        self._exp_id = self._client.get_run(self._parent).info.experiment_id
        self._client.update_run(self._parent, status="RUNNING")

    def _run(self, trial) -> str:
        if trial.trial_id in self._runs:
            return self._runs[trial.trial_id]
        found = self._client.search_runs(
            [self._exp_id],
            filter_string=f"tags.`{TRIAL_TAG}` = '{trial.trial_id}' and tags.`mlflow.parentRunId` = '{self._parent}'",
            max_results=1,
        )
        if found:  # a restored trial continues its run
            run_id = found[0].info.run_id
            self._client.update_run(run_id, status="RUNNING")
        else:
            tags = {"mlflow.parentRunId": self._parent, TRIAL_TAG: trial.trial_id, "sweep": self.sweep,
                    **{f"grid.{a}": str(trial.config.get(a)) for a in self.axes}}
            run_id = self._client.create_run(self._exp_id, run_name=cell_name(trial.config), tags=tags).info.run_id
            for key, value in trial.config.items():
                self._client.log_param(run_id, key, value)
        self._runs[trial.trial_id] = run_id
        return run_id

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._run(trial)

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        from mlflow.entities import Metric, RunTag

        run_id = self._run(trial)
        step, now = int(result.get("epoch", 0)), int(time.time() * 1000)
        metrics = [
            Metric(k, float(v), now, step)
            for k, v in result.items()
            if k not in NOT_METRICS and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ]
        tags = [RunTag("device", str(result.get("device"))), RunTag("diverged", str(bool(result.get("diverged"))))]
        if result.get("diverged"):
            tags.append(RunTag("diverged_step", str(result.get("diverged_step"))))
        self._client.log_batch(run_id, metrics=metrics, tags=tags)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._client.set_terminated(self._run(trial), "FINISHED")

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._client.set_terminated(self._run(trial), "FAILED")

    def on_experiment_end(self, trials, **info) -> None:
        self._client.set_terminated(self._parent, "FINISHED")


