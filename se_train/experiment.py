"""The experiment folder's layout, and one reader for each file se-sweep writes there and reads
back. A file that is missing where it must be, empty, cut short, not JSON or Parquet, a folder, or
of the wrong shape is refused in one line that names it and says what to do, so `resume`,
`status` and `report` never end in a traceback on a file se-sweep wrote itself.

<storage>/<sweep name>/           the experiment (Tune's experiment folder)
    sweep.json                    the validated spec, the command, the data and the hardware
    experiment_state-*.json       Tune's state: each trial's status, config and folder
    <trial folder>/result.json    one JSON line per reported epoch (read by `tune_files`)
    search/                       with `search:`: the search stage, an experiment of its own
    chosen.json                   with `search:`: each cell's chosen setting, every try's score
    mlflow_gaps.json              trial id -> MLflow calls that failed
results/<name>/                   a report: runs.parquet, epochs.parquet, sources.json (each
                                  experiment's sweep.json), chosen.json, tables and figures
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal

import pandas as pd
import pyarrow
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from se_train import plugins, storage
from se_train.blocks import Tracking
from se_train.config import SweepSpec
from se_train.errors import UserError, first_line
from se_train.result import Method
from se_train.validation import AS_RECORDED, invalid

SWEEP_FILE = "sweep.json"
SEARCH_DIR = "search"
CHOSEN_FILE = "chosen.json"
GAPS_FILE = "mlflow_gaps.json"
STATE_PREFIX = "experiment_state-"
RESULT_FILE = "result.json"
TRAIN_RUNS_DIR = "train_runs"  # multi-worker trials' Ray Train runs, one folder per trial id
SOURCES_FILE = "sources.json"
RUNS_TABLE, EPOCHS_TABLE, PAIRS_TABLE = "runs.parquet", "epochs.parquet", "pairs.parquet"
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


class Hardware(BaseModel):
    """Where a sweep ran, as `run` found it when it started."""

    model_config = ConfigDict(extra="forbid")

    description: str
    cluster_cpus: float | None = None
    cluster_gpus: float | None = None
    nodes: int | None = None


class SweepRecord(BaseModel):
    """sweep.json: what a sweep runs and where, written once by `write_sweep` when it starts and
    read by `read_sweep` (and, as a report's sources.json keeps it, by `read_sources`). Every field
    a command reads is typed here; the folders of older versions read as they were written."""

    model_config = ConfigDict(extra="forbid")

    spec: SweepSpec
    sweep_file: str
    experiment: str  # where it was written; a resumed or copied experiment is named where it is now
    command: str = ""
    started: datetime | None = None
    data_root: str | None = None  # None: written before it was recorded (it cannot be resumed)
    datasets: dict[str, dict[str, int]] = {}  # each dataset's rows per split: a report pools runs on the same data only
    tracking: Tracking | None = None
    hardware: Hardware | None = None
    stage: Literal["search"] | None = None  # the search stage's own folder (search/)
    searched: list[str] = []  # the search's fields: its tries are named by them
    version: str | None = None  # the se-sweep that wrote it; None before it was recorded
    reconstructed: str | None = None  # how a record lost by an older version was rebuilt, and from what
    plugin_digests: dict[str, str | None] = {}  # each plugin's sha256 as the sweep started: `resume` names one that changed

    @model_validator(mode="before")
    @classmethod
    def _older(cls, raw: Any) -> Any:
        seeds = raw.get("spec", {}).get("seeds") if isinstance(raw, dict) and isinstance(raw.get("spec"), dict) else None
        if isinstance(seeds, dict) and "method" not in seeds:
            # Written before seeds.method: that sweep decided by the anytime sequence at ρ = 0.1, and
            # its reports and resumes go on deciding as it did.
            raw = {**raw, "spec": {**raw["spec"], "seeds": {**seeds, "method": Method.ANYTIME.value, "rho": 0.1}}}
        return raw

    @property
    def name(self) -> str:
        return self.spec.name


SWEEP_ADVICE = "it is written when a sweep starts: run the sweep again"


def write_sweep(record: SweepRecord, folder: str | None = None) -> None:
    """The record as `folder`'s sweep.json (default: its own experiment's)."""
    record = record.model_copy(update={"version": record.version or _version()})
    storage.write_text(storage.join(folder or record.experiment, SWEEP_FILE), record.model_dump_json(indent=2))


def _version() -> str:
    from importlib.metadata import version

    return version("se-sweep")


def read_sweep(experiment: str) -> SweepRecord:
    """The experiment's sweep.json, every field checked."""
    path = storage.join(experiment, SWEEP_FILE)
    if not storage.exists(path):
        raise UserError(f"{experiment}: not an se-sweep experiment (no {SWEEP_FILE}); pass the folder `se-sweep run` printed")
    raw = read_json(path, dict, SWEEP_ADVICE)
    return check_sweep({"experiment": experiment, **raw}, path)  # very old ones did not record where


def check_sweep(raw: Any, path: str) -> SweepRecord:
    """A sweep.json's content (also as a report's sources.json keeps it), refused in a line per
    error unless it is what a sweep.json holds; one a newer se-sweep wrote says so."""
    if not isinstance(raw, dict):
        raise UserError(f"{path}: an entry is not a sweep.json; {SWEEP_ADVICE}")
    context = None
    entries = raw["spec"].get("plugins") if isinstance(raw.get("spec"), dict) else None
    if isinstance(entries, list) and all(isinstance(e, str) for e in entries):
        try:
            plugins.load(entries, "spec.plugins")  # its models, to check its grid as it was checked
        except UserError:
            context = AS_RECORDED  # moved, or on another machine: `resume` needs them, and says so
    try:
        return SweepRecord.model_validate(raw, context=context)
    except ValidationError as e:
        if raw.get("version") and raw["version"] != _version():
            raise UserError(f"{path}: written by se-sweep {raw['version']}, which this se-sweep {_version()} cannot read: "
                            f"use that version, or {SWEEP_ADVICE}") from None
        # a file se-sweep wrote itself: its first fault says what broke it, in one line
        first, *more = str(invalid(path, e)).splitlines()
        raise UserError(f"{first}" + (f" (and {len(more)} more)" if more else "") + f"; {SWEEP_ADVICE}") from None


class Try(BaseModel):
    """One setting a search tried for a cell, over its seeds; its searched fields (lr, ...) by name."""

    model_config = ConfigDict(extra="allow")
    valid_acc: float | None  # mean over its seeds of their best valid accuracy; None if none reported
    seeds: int
    statuses: list[str]
    eligible: bool  # every seed completed: only such a try can be chosen

    def value(self, field: str) -> float:
        return getattr(self, field)


class CellChoice(BaseModel):
    cell: dict[str, Any]  # the cell's axes, without its seed and the searched fields
    chosen: dict[str, float] | None  # None: every try diverged or failed; the cell is left out
    tries: list[Try]


class Chosen(BaseModel):
    """chosen.json: the search's protocol, its fields and space, and each cell's choice."""

    model_config = ConfigDict(extra="forbid")
    protocol: str
    fields: list[str]
    space: dict[str, Any]
    cells: list[CellChoice]


def read_chosen(experiment: str) -> Chosen | None:
    """chosen.json of a sweep with a search (in its experiment folder, or in its report's); None
    before the search has chosen."""
    path = storage.join(experiment, CHOSEN_FILE)
    if not storage.exists(path):
        return None
    advice = "delete it and `se-sweep resume` chooses again from the search's tries"
    try:
        return Chosen.model_validate(read_json(path, dict, advice))
    except ValidationError as e:
        raise UserError(f"{first_line(invalid(path, e))}; {advice}") from None


def read_gaps(experiment: str) -> dict[str, int]:
    """Trial id -> how many of its MLflow calls failed, as the sweep recorded them."""
    path = storage.join(experiment, GAPS_FILE)
    return read_json(path, dict, "delete it: it only lists MLflow's gaps") if storage.exists(path) else {}


def read_sources(folder: str) -> list[SweepRecord]:
    """A report's sources.json: the sweep.json of each experiment it read."""
    path = storage.join(folder, SOURCES_FILE)
    if not storage.exists(path):
        raise UserError(f"{folder}: a report without {SOURCES_FILE} (written by an older se-sweep); {RERUN_REPORT}")
    sources = read_json(path, list, RERUN_REPORT)
    if not sources:
        raise UserError(f"{path}: no experiment listed; {RERUN_REPORT}")
    return [check_sweep(meta, path) for meta in sources]


def sources_json(sources: list[SweepRecord]) -> str:
    """A report's sources.json: what makes its folder an input of a later report."""
    return json.dumps([json.loads(r.model_dump_json()) for r in sources], indent=2) + "\n"


def read_table(folder: str, name: str) -> pd.DataFrame:
    """A report's runs.parquet or epochs.parquet."""
    path = storage.join(folder, name)
    if not storage.exists(path):
        raise UserError(f"{path}: missing; a report's folder holds {RUNS_TABLE} and {EPOCHS_TABLE}")
    try:
        return storage.read_parquet(path).to_pandas()
    except (pyarrow.ArrowException, OSError) as e:
        raise UserError(f"{path}: not a Parquet table se-sweep wrote ({first_line(e)}); {RERUN_REPORT}") from None
