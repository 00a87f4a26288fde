"""The experiment folder's layout, and one reader for each file se-sweep writes there and reads
back. A file that is missing where it must be, empty, cut short, not JSON or Parquet, a folder, or
of the wrong shape is refused in one line that names it and says what to do, so `resume`,
`status` and `report` never end in a traceback on a file se-sweep wrote itself.

<storage>/<sweep name>/           the experiment (Tune's experiment folder)
    sweep.json                    the validated spec, the command, the data and the hardware
    experiment_state-*.json       Tune's state: each trial's status, config and folder
    <trial folder>/result.json    one JSON line per reported epoch
    search/                       with `search:`: the search stage, an experiment of its own
    chosen.json                   with `search:`: each cell's chosen setting, every try's score
    mlflow_gaps.json              trial id -> MLflow calls that failed
results/<name>/                   a report: runs.parquet, epochs.parquet, sources.json (each
                                  experiment's sweep.json), chosen.json, tables and figures
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pandas as pd
import pyarrow
from pydantic import ValidationError

from se_train import storage
from se_train.config import SweepSpec
from se_train.errors import UserError, first_line
from se_train.validation import invalid
from se_train.result import Key, is_record

SWEEP_FILE = "sweep.json"
SEARCH_DIR = "search"
CHOSEN_FILE = "chosen.json"
GAPS_FILE = "mlflow_gaps.json"
STATE_PREFIX = "experiment_state-"
RESULT_FILE = "result.json"
# Put in a trial's checkpoint folder by `resume` (sweep/tune_state.py) when Tune's state never
# recorded the report that carried that checkpoint: the trial reports the epoch's record again.
UNRECORDED_FILE = "unrecorded"
SOURCES_FILE = "sources.json"
RUNS_TABLE, EPOCHS_TABLE = "runs.parquet", "epochs.parquet"
RERUN_REPORT = "rerun `se-sweep report` on its experiment"


def read_json(path: str, kind: type, advice: str) -> Any:
    """A JSON file se-sweep (or Tune) wrote, of `kind` (dict or list)."""
    try:
        text = storage.read_text(path)
    except (IsADirectoryError, pyarrow.ArrowInvalid, OSError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: cannot be read ({first_line(e)}); {advice}") from None
    if not text.strip():
        raise UserError(f"{path}: empty; {advice}")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON ({e}; cut short?); {advice}") from None
    if not isinstance(value, kind):
        raise UserError(f"{path}: a JSON {type(value).__name__}, not the {kind.__name__} se-sweep writes; {advice}")
    return value


def is_experiment(location: str) -> bool:
    return storage.exists(storage.join(location, SWEEP_FILE))


def read_sweep(experiment: str) -> dict[str, Any]:
    """The experiment's sweep.json: its spec validated, and the fields the commands use."""
    path = storage.join(experiment, SWEEP_FILE)
    if not storage.exists(path):
        raise UserError(f"{experiment}: not an se-sweep experiment (no {SWEEP_FILE}); pass the folder `se-sweep run` printed")
    return check_sweep(read_json(path, dict, "it is written when a sweep starts: run the sweep again"), path)


def check_sweep(meta: Any, path: str) -> dict[str, Any]:
    """A sweep.json's content (also as a report's sources.json keeps it), refused unless it has
    what a sweep.json has."""
    advice = "it is written when a sweep starts: run the sweep again"
    if not isinstance(meta, dict):
        raise UserError(f"{path}: an entry is not a sweep.json; {advice}")
    for key in ("spec", "sweep_file"):
        if key not in meta:
            raise UserError(f"{path}: no {key!r}; {advice}")
    seeds = meta["spec"].get("seeds") if isinstance(meta["spec"], dict) else None
    if isinstance(seeds, dict) and "method" not in seeds:
        # Written before seeds.method: that sweep decided by the anytime sequence at ρ = 0.1, and
        # its reports and resumes go on deciding as it did.
        meta["spec"]["seeds"] = {**seeds, "method": "anytime", "rho": 0.1}
    try:
        SweepSpec.model_validate(meta["spec"])
    except ValidationError as e:
        raise UserError(f"{invalid(path, e, prefix=('spec',))}; {advice}") from None
    return meta


def read_chosen(experiment: str) -> dict[str, Any] | None:
    """chosen.json of a sweep with a search (in its experiment folder, or in its report's); None
    before the search has chosen."""
    path = storage.join(experiment, CHOSEN_FILE)
    if not storage.exists(path):
        return None
    chosen = read_json(path, dict, "delete it and `se-sweep resume` chooses again from the search's tries")
    for key, kind in (("cells", list), ("fields", list), ("protocol", str)):
        if not isinstance(chosen.get(key), kind):
            raise UserError(f"{path}: no {key!r} {kind.__name__}; delete it and `se-sweep resume` chooses again from the search's tries")
    return chosen


def read_gaps(experiment: str) -> dict[str, int]:
    """Trial id -> how many of its MLflow calls failed, as the sweep recorded them."""
    path = storage.join(experiment, GAPS_FILE)
    return read_json(path, dict, "delete it: it only lists MLflow's gaps") if storage.exists(path) else {}


def read_sources(folder: str) -> list[dict[str, Any]]:
    """A report's sources.json: the sweep.json of each experiment it read."""
    path = storage.join(folder, SOURCES_FILE)
    if not storage.exists(path):
        raise UserError(f"{folder}: a report without {SOURCES_FILE} (written by an older se-sweep); {RERUN_REPORT}")
    sources = read_json(path, list, RERUN_REPORT)
    if not sources:
        raise UserError(f"{path}: no experiment listed; {RERUN_REPORT}")
    return [check_sweep(meta, path) for meta in sources]


def read_table(folder: str, name: str) -> pd.DataFrame:
    """A report's runs.parquet or epochs.parquet."""
    path = storage.join(folder, name)
    if not storage.exists(path):
        raise UserError(f"{path}: missing; a report's folder holds {RUNS_TABLE} and {EPOCHS_TABLE}")
    try:
        return storage.read_parquet(path).to_pandas()
    except (pyarrow.ArrowException, OSError) as e:
        raise UserError(f"{path}: not a Parquet table se-sweep wrote ({first_line(e)}); {RERUN_REPORT}") from None


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


def read_state(experiment: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Tune's newest experiment state: (trial, runtime) per trial; empty before Tune saved one."""
    states = sorted(n for n in storage.list_names(experiment) if n.startswith(STATE_PREFIX))
    if not states:
        return []
    path = storage.join(experiment, states[-1])
    advice = "Tune's state of the sweep is damaged; run the sweep again into another --storage"
    raw = read_json(path, dict, advice)
    try:
        pairs = [(json.loads(trial), json.loads(runtime)) for trial, runtime in raw["trial_data"]]
    except (KeyError, TypeError, ValueError):
        pairs = None
    if pairs is None or not all(isinstance(t, dict) and isinstance(r, dict) and {"trial_id", "status", "config"} <= t.keys() for t, r in pairs):
        raise UserError(f"{path}: not the trial list Tune writes; {advice}")
    return pairs
