"""Tune's saved experiment state, repaired before a resume, so that every unfinished trial
continues from a checkpoint that exists and its log ends up holding each epoch exactly once.

Checkpoints. With one checkpoint kept per trial, Tune deletes a trial's previous checkpoint as soon
as it registers the next one, while the experiment state that names checkpoints is uploaded in the
background. A driver killed in between leaves a state naming a checkpoint that is gone, and Ray
2.7+ then refuses that trial on every resume ("Could not recover from checkpoint as it does not
exist on storage anymore"; ray-project/ray #27790 fell back to the latest present, before the
storage rewrite). A checkpoint is deleted only after the next one is written, so the newest one
present is never older than the one named: the trial continues from it.

Logs. A trial's result.json and progress.csv are written by Tune's driver and uploaded with its
state, after the checkpoint they describe: a driver killed in between leaves epochs that a
checkpoint holds and the log lacks (one-worker trials), and a multi-worker trial, which continues
from its Ray Train run's own checkpoint (`train_runs/<trial id>`) and gives Tune none, restarts its
log from nothing. So each checkpoint carries the records of every epoch up to it, and here the
log Tune will continue is cut to the checkpoint's epoch, and the epochs it lacks are written into
the checkpoint folder (`UNRECORDED_FILE`): the trial reports them again before it trains on.
The two logs are uploaded one after the other, so a kill can leave one an epoch ahead: both are
cut to the epochs they share.
Tune continues the log it finds staged on this machine, else the one in storage: both are made
the same. A bucket written by an older se-sweep may be in any of these states, so the repair is
made at resume, whatever made it.

The private Ray this needs (the saved state's layout, its run metadata, checkpoint manager and
staging folders) is in `ray_private`.
"""

from __future__ import annotations

import csv
import io
import json
import posixpath

from se_train import experiment as layout
from se_train import storage, tune_files
from se_train.result import Key, TuneStatus
from se_train.sweep import ray_private
from se_train.train.checkpoint import RECORDS_FILE, UNRECORDED_FILE

CHECKPOINT_PREFIX = "checkpoint_"  # Tune's names: checkpoint_000000, checkpoint_000001, ...
PROGRESS_FILE = "progress.csv"  # Tune's CSV log, beside result.json
TRAIN_SNAPSHOT = "checkpoint_manager_snapshot.json"  # a Ray Train run's record of its checkpoints


def repair(folder: str, train_runs: str) -> list[str]:
    """Repair every unfinished trial of the Tune experiment at `folder` (multi-worker trials'
    runs under `train_runs`); rewrite the newest state file if a checkpoint changed. One line per
    trial with something to say: where it continues from, and what it reports again."""
    names = sorted(n for n in storage.list_names(folder) if n.startswith(layout.STATE_PREFIX))
    if not names:
        return []
    path = storage.join(folder, names[-1])
    state = json.loads(storage.read_text(path))
    staged = ray_private.driver_staging(storage.name(folder))
    lines, changed = [], False
    for pair in state["trial_data"]:
        trial = tune_files.saved_trial(*pair)
        if trial.status == TuneStatus.TERMINATED or not trial.folder:
            continue  # finished, or never started: nothing to continue
        where = trial.folder
        trial_folder = storage.join(folder, where)
        metadata = ray_private.run_metadata(pair[1])
        said, checkpoint, moved = _present_checkpoint(trial_folder, where, metadata.checkpoint_manager)
        lines += said
        if moved:
            metadata.invalidate_cache()
            pair[1] = metadata.get_json_state()
            changed = True
        # Tune hands a log back (from storage) only to a trial it restores from its own checkpoint.
        continued = _train_checkpoint(train_runs, trial.trial_id) or checkpoint
        lines += _records_again(trial_folder, where, continued, checkpoint is not None, [s / where for s in staged])
    if changed:
        storage.write_text(path, json.dumps(state))
    return lines


def _present_checkpoint(trial_folder: str, where: str, manager) -> tuple[list[str], str | None, bool]:
    """Point the trial at the newest of its checkpoints present in storage (or at none): what to
    say, that checkpoint's location, and whether the state changed."""
    present = sorted(n for n in storage.list_names(trial_folder) if n.startswith(CHECKPOINT_PREFIX)) if storage.exists(trial_folder) else []
    latest = manager.latest_checkpoint_result if manager else None
    named = posixpath.basename(latest.checkpoint.path.rstrip("/")) if latest else None
    if named is None or named in present:
        # never checkpointed, or before its first checkpoint
        return [f"{where}: continues from {named}"] if named else [], storage.join(trial_folder, named) if named else None, False
    if not present:
        ray_private.set_latest_checkpoint(manager, None)
        return [f"{where}: Tune's state names {named}, which is gone from storage, and no checkpoint is left; starts again"], None, True
    # Tune rewrites the path's prefix if the experiment moved; only the last part changes here.
    # The metrics stay the named checkpoint's: the loop counts epochs from the checkpoint itself.
    newest = ray_private.training_result(
        type(latest.checkpoint)(posixpath.join(posixpath.dirname(latest.checkpoint.path.rstrip("/")), present[-1]),
                                filesystem=latest.checkpoint.filesystem),
        latest.metrics,
    )
    ray_private.set_latest_checkpoint(manager, newest)
    line = f"{where}: Tune's state names {named}, which is gone from storage; continues from {present[-1]}, the newest there"
    return [line], storage.join(trial_folder, present[-1]), True


def _train_checkpoint(train_runs: str, trial_id: str) -> str | None:
    """The checkpoint a multi-worker trial's Ray Train run continues from, if it has one."""
    snapshot = storage.join(train_runs, trial_id, TRAIN_SNAPSHOT)
    if not storage.exists(snapshot):
        return None
    latest = json.loads(storage.read_text(snapshot)).get("latest_checkpoint_result")
    return storage.join(train_runs, trial_id, latest["checkpoint_dir_name"]) if latest else None


def _records_again(trial_folder: str, where: str, checkpoint: str | None, restored: bool, staged: list) -> list[str]:
    """Make the log Tune continues hold the trial's epochs up to `checkpoint`'s, each once: cut
    past them, and the ones it lacks marked to be reported again. `restored`: Tune hands the log in
    storage back (else it starts an empty one)."""
    records = []
    if checkpoint:
        if not storage.exists(storage.join(checkpoint, RECORDS_FILE)):
            return []  # written by an se-sweep that kept no records: its log is left as it is
        records = json.loads(storage.read_text(storage.join(checkpoint, RECORDS_FILE)))
    texts = {name: storage.read_text(storage.join(trial_folder, name))
             for name in (layout.RESULT_FILE, PROGRESS_FILE) if restored and storage.exists(storage.join(trial_folder, name))}
    # Tune appends each epoch to both logs but uploads them one after the other: a driver killed
    # in between leaves one an epoch ahead. Both keep only the epochs they share.
    last = min([records[-1][Key.EPOCH] if records else 0, *(max(_epochs(text, name), default=0) for name, text in texts.items())])
    logs = {name: _cut(text, name, last) for name, text in texts.items()}
    for name, (text, cut) in logs.items():
        if cut:
            storage.write_text(storage.join(trial_folder, name), text)
    for local in staged:  # what Tune would continue instead of the log in storage
        for name in (layout.RESULT_FILE, PROGRESS_FILE):
            if (local / name).exists():
                if name in logs:
                    (local / name).write_text(logs[name][0])
                else:
                    (local / name).unlink()
    if checkpoint is None:
        return []
    logged = {r[Key.EPOCH] for r in _log_records(logs.get(layout.RESULT_FILE, ("", False))[0])}
    again = [r[Key.EPOCH] for r in records if r[Key.EPOCH] not in logged]
    storage.write_text(storage.join(checkpoint, UNRECORDED_FILE), json.dumps(again))
    return [f"{where}: epoch(s) {', '.join(map(str, again))} reported again from {storage.name(checkpoint)}"] if again else []


def _cut(text: str, name: str, last: int) -> tuple[str, bool]:
    """A log's text without the epochs after `last` (run again from the checkpoint), and whether
    anything was cut."""
    if name == layout.RESULT_FILE:
        lines = text.splitlines(keepends=True)
        kept = [line for line, r in zip(lines, map(_parsed, lines)) if r is not None and r.get(Key.EPOCH, 0) <= last]
        return "".join(kept), len(kept) < len(lines)
    header, rows = _csv_epochs(text)
    if header is None:
        return text, False
    kept = [header] + [row for row, epoch in rows if epoch is not None and epoch <= last]
    out = io.StringIO()
    csv.writer(out).writerows(kept)  # the dialect Tune appends in (csv.DictWriter's default): one line ending throughout
    return out.getvalue(), len(kept) < len(rows) + 1


def _epochs(text: str, name: str) -> list[int]:
    """The epochs a log holds (a line cut short by a kill holds none)."""
    if name == layout.RESULT_FILE:
        return [r.get(Key.EPOCH, 0) for r in _log_records(text)]
    return [epoch for _, epoch in _csv_epochs(text)[1] if epoch is not None]


def _csv_epochs(text: str) -> tuple[list[str] | None, list[tuple[list[str], int | None]]]:
    """progress.csv's header (None without an epoch column) and each row with its epoch."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or Key.EPOCH.value not in rows[0]:
        return None, []
    column = rows[0].index(Key.EPOCH.value)
    return rows[0], [(row, int(float(row[column])) if len(row) == len(rows[0]) and row[column] else None) for row in rows[1:]]


def _parsed(line: str) -> dict | None:
    try:
        return json.loads(line)
    except json.JSONDecodeError:  # cut short by a kill
        return None


def _log_records(text: str) -> list[dict]:
    return [r for r in map(_parsed, text.splitlines()) if r is not None]
