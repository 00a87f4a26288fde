"""What Tune writes into an experiment folder, read strictly: each trial's result.json (one line
per reported epoch) and Tune's newest saved state (each trial's status, config and folder). A file
cut short by a kill is read around and said; a damaged one is refused in one line."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pyarrow
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from se_train import storage
from se_train.errors import UserError, first_line
from se_train.experiment import RESULT_FILE, STATE_PREFIX, read_json
from se_train.result import FINISHED, Key, TuneStatus, is_record


def read_results(experiment: str, folder: str, notes: list[str]) -> list[dict[str, Any]]:
    """Every complete line of a trial's result.json (one JSON object per reported epoch); none
    before its first report. A process killed while Tune wrote it leaves the last line cut short:
    that line is left out, and said so in `notes`."""
    path = storage.join(experiment, folder, RESULT_FILE)
    if not folder or not storage.exists(path):
        return []
    advice = "the trial's log is damaged; `se-sweep resume` cannot repair it, run the cell again"
    try:
        lines = [line for line in storage.read_text(path).splitlines() if line.strip()]
    except (IsADirectoryError, pyarrow.ArrowInvalid, OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot be read ({first_line(e)}); {advice}") from None
    results = []
    for i, line in enumerate(lines):
        try:
            result = json.loads(line)
        except json.JSONDecodeError as e:
            if i < len(lines) - 1:
                raise UserError(f"{path}: line {i + 1} is not JSON ({e}); {advice}") from None
            notes.append(f"{folder}/{RESULT_FILE}: its last line is incomplete (a killed write?) and was left out; "
                         f"the {len(results)} complete epoch(s) before it are kept")
            continue
        if not is_record(result):
            raise UserError(f"{path}: line {i + 1} is not an epoch's result; {advice}")
        results.append(result)
    # A trial resumed from a checkpoint older than its last report runs those epochs again:
    # each epoch counts once, as it was last reported.
    by_epoch = {r[Key.EPOCH]: r for r in results}
    again = sorted(epoch for epoch, times in Counter(r[Key.EPOCH] for r in results).items() if times > 1)
    if again:
        notes.append(f"{folder}/{RESULT_FILE}: epoch(s) {', '.join(map(str, again))} reported again after a resume; each counted once, as last reported")
    return [by_epoch[e] for e in sorted(by_epoch)]


class SavedTrial(BaseModel):
    """One trial of Tune's saved state, as se-sweep reads it: the trial's own JSON (id, status,
    config, folder) joined with its runtime JSON (error file, what Tune kept of its results)."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    trial_id: str
    status: TuneStatus
    config: dict[str, Any]
    folder: str = Field("", alias="relative_logdir")  # "" until the trial first ran
    error_file: str | None = Field(None, alias="error_filename")
    last_result: dict[str, Any] = {}
    metric_analysis: dict[str, Any] = {}

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def read_state(experiment: str) -> list[SavedTrial]:
    """Tune's newest experiment state, one `SavedTrial` per trial; empty before Tune saved one."""
    states = sorted(n for n in storage.list_names(experiment) if n.startswith(STATE_PREFIX))
    if not states:
        return []
    path = storage.join(experiment, states[-1])
    advice = "Tune's state of the sweep is damaged; run the sweep again into another --storage"
    raw = read_json(path, dict, advice)
    try:
        return [saved_trial(trial, runtime) for trial, runtime in raw["trial_data"]]
    except (KeyError, TypeError, ValueError, ValidationError):
        raise UserError(f"{path}: not the trial list Tune writes; {advice}") from None


def saved_trial(trial_json: str, runtime_json: str) -> SavedTrial:
    """One trial of Tune's saved state from its two JSON texts. Tune writes null for what a trial
    has not got yet (a folder, a result): read as the default."""
    parts = [{k: v for k, v in json.loads(text).items() if v is not None} for text in (runtime_json, trial_json)]
    return SavedTrial.model_validate(parts[0] | parts[1])
