"""MLflow tracking of a running sweep, as a Ray Tune callback on the driver: one nested run per
trial under the sweep's parent run, with the cell's settings as params, every epoch's metrics
(the epoch as the step) and tags for the grid axes, divergence, device and sweep. A resumed
sweep continues the same runs: they are found again by their tags, never created twice.

Written with `mlflow` itself rather than Ray's `MLflowLoggerCallback`, which logs each trial as a
top-level run and has no parent run to nest them under or to find them again by.

Tracking never stops training: Tune does not catch what a callback raises, so one failed request
would end a 10-hour sweep. Every MLflow call gets bounded retries with backoff; one that still
fails logs one warning, is counted for its trial in `mlflow_gaps.json` in the experiment folder
(which `se-sweep status` and the report read), its run is tagged incomplete once the server
answers again, and the sweep goes on.
"""

from __future__ import annotations

import json
import logging
import math
import time
from typing import Any, Callable

from ray import tune

from se_train import storage
from se_train.experiment import GAPS_FILE, read_gaps
from se_train.errors import first_line
from se_train.mlflow_runs import INCOMPLETE_TAG, TRIAL_TAG, client_for, parent_run
from se_train import cell
from se_train.result import TYPES, Key

# What an epoch's record declares numeric (`result.TYPES`); Tune's own bookkeeping in the same
# result (its iteration, clocks, host) is not the trial's to log, and the device and divergence are tags.
METRICS = tuple(k for k, kind in TYPES.items() if kind in (int, float))


logger = logging.getLogger(__name__)
RETRY_DELAYS_S = (0.5, 2.0)  # a call is tried 3 times: a server restart or a dropped connection passes


class MlflowTracking(tune.Callback):
    """Tune callback: trial runs nested under the sweep's parent run."""

    def __init__(self, uri: str, experiment_name: str, experiment: str, sweep: str, axes: list[str]) -> None:
        self.uri, self.experiment_name, self.experiment, self.sweep, self.axes = uri, experiment_name, experiment, sweep, axes
        self._client = self._parent = self._exp_id = None
        self._runs: dict[str, str] = {}
        self._gaps = read_gaps(experiment)  # trial id -> failed calls, across resumes
        self._tagged: set[str] = set()  # incomplete runs tagged so

    def _tracked(self, trial_id: str | None, what: str, call: Callable[[], Any]) -> Any:
        """`call` with bounded retries; if it still fails, one warning and a gap, never a raise."""
        for delay in (*RETRY_DELAYS_S, None):
            try:
                return call()
            except Exception as e:  # noqa: BLE001 - any failure to reach MLflow must not end the sweep
                if delay is None:
                    logger.warning("MLflow %s failed for trial %s (%s); the sweep goes on, the run is marked incomplete",
                                   what, trial_id or "-", first_line(e))
                    if trial_id is not None:
                        self._gaps[trial_id] = self._gaps.get(trial_id, 0) + 1
                        storage.write_text(storage.join(self.experiment, GAPS_FILE), json.dumps(self._gaps, indent=2))
                    return None
                time.sleep(delay)

    def __getstate__(self) -> dict[str, Any]:  # pickled into Tune's state for `resume`: no client
        return {k: v for k, v in self.__dict__.items() if k in ("uri", "experiment_name", "experiment", "sweep", "axes")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)

    def setup(self, **info) -> None:
        self._client = client_for(self.uri)
        self._tracked(None, "setup", self._open_parent)

    def _open_parent(self) -> None:
        self._parent = parent_run(self._client, self.experiment_name, self.experiment, self.sweep)
        self._exp_id = self._client.get_run(self._parent).info.experiment_id
        self._client.update_run(self._parent, status="RUNNING")

    def _run(self, trial) -> str:
        """The trial's run id, found or created (the parent run first, if setup could not)."""
        if self._parent is None:
            self._open_parent()
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
            run_id = self._client.create_run(self._exp_id, run_name=cell.name(trial.config), tags=tags).info.run_id
            for key, value in trial.config.items():
                self._client.log_param(run_id, key, value)
        self._runs[trial.trial_id] = run_id
        return run_id

    def _mark_if_incomplete(self, trial_id: str, run_id: str) -> None:
        if trial_id in self._gaps and trial_id not in self._tagged:
            self._client.set_tag(run_id, INCOMPLETE_TAG, "true")
            self._tagged.add(trial_id)

    def on_trial_start(self, iteration, trials, trial, **info) -> None:
        self._tracked(trial.trial_id, "run creation", lambda: self._run(trial))

    def on_trial_result(self, iteration, trials, trial, result, **info) -> None:
        self._tracked(trial.trial_id, f"epoch {result.get('epoch')}", lambda: self._log_result(trial, result))

    def _log_result(self, trial, result: dict[str, Any]) -> None:
        from mlflow.entities import Metric, RunTag

        run_id = self._run(trial)
        self._mark_if_incomplete(trial.trial_id, run_id)
        step, now = int(result.get(Key.EPOCH, 0)), int(time.time() * 1000)
        metrics = [
            Metric(str(k), float(v), now, step)
            for k, v in ((k, result.get(k)) for k in METRICS)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        ]
        tags = [RunTag(Key.DEVICE, str(result.get(Key.DEVICE))), RunTag(Key.DIVERGED, str(bool(result.get(Key.DIVERGED))))]
        if result.get(Key.DIVERGED):
            tags.append(RunTag(Key.DIVERGED_STEP, str(result.get(Key.DIVERGED_STEP))))
        self._client.log_batch(run_id, metrics=metrics, tags=tags)

    def on_trial_complete(self, iteration, trials, trial, **info) -> None:
        self._tracked(trial.trial_id, "run end", lambda: self._end(trial, "FINISHED"))

    def on_trial_error(self, iteration, trials, trial, **info) -> None:
        self._tracked(trial.trial_id, "run end", lambda: self._end(trial, "FAILED"))

    def _end(self, trial, status: str) -> None:
        run_id = self._run(trial)
        self._mark_if_incomplete(trial.trial_id, run_id)
        self._client.set_terminated(run_id, status)

    def on_experiment_end(self, trials, **info) -> None:
        self._tracked(None, "sweep end", self._end_parent)

    def _end_parent(self) -> None:
        if self._parent is None:
            self._open_parent()
        self._client.set_terminated(self._parent, "FINISHED")


