"""Tune's saved experiment state, repaired before a resume: each unfinished trial continues from
the newest checkpoint that exists in storage, or starts again if none does.

Why: with one checkpoint kept per trial, Tune deletes a trial's previous checkpoint as soon as it
registers the next one, while the experiment state that names checkpoints is uploaded in the
background. A driver killed in between leaves a state naming a checkpoint that is gone, and Ray
2.7+ then refuses that trial on every resume ("Could not recover from checkpoint as it does not
exist on storage anymore"; ray-project/ray #27790 fell back to the latest present, before the
storage rewrite). A checkpoint is deleted only after the next one is written, so the newest one
present is never older than the one named. A bucket written by an older se-sweep may already be
in that state, so the repair is made at resume, whatever made it.

The private Ray this needs (the saved state's layout, its run metadata and checkpoint manager) is
in `ray_private`.
"""

from __future__ import annotations

import json
import posixpath

from se_train import experiment as layout
from se_train import storage
from se_train.sweep import ray_private

CHECKPOINT_PREFIX = "checkpoint_"  # Tune's names: checkpoint_000000, checkpoint_000001, ...


def repair_checkpoints(folder: str) -> list[str]:
    """Point every unfinished trial of the Tune experiment at `folder` at the newest checkpoint
    present in storage (or at none); rewrite the newest state file if anything changed. One line
    per unfinished trial that has a checkpoint or had one: where it continues from."""
    names = sorted(n for n in storage.list_names(folder) if n.startswith(layout.STATE_PREFIX))
    if not names:
        return []
    path = storage.join(folder, names[-1])
    state = json.loads(storage.read_text(path))
    lines, changed = [], False
    for pair in state["trial_data"]:
        trial = json.loads(pair[0])
        if trial.get("status") == "TERMINATED":
            continue
        trial_folder = storage.join(folder, trial.get("relative_logdir") or "")
        present = sorted(n for n in storage.list_names(trial_folder) if n.startswith(CHECKPOINT_PREFIX)) if storage.exists(trial_folder) else []
        metadata = ray_private.run_metadata(pair[1])
        manager = metadata.checkpoint_manager
        latest = manager.latest_checkpoint_result if manager else None
        named = posixpath.basename(latest.checkpoint.path.rstrip("/")) if latest else None
        where = trial.get("relative_logdir") or trial["trial_id"]
        if named is None or named in present:
            lines += [f"{where}: continues from {named}"] if named else []  # never started, or before its first checkpoint
            continue
        if present:
            # Tune rewrites the path's prefix if the experiment moved; only the last part changes here.
            # The metrics stay the named checkpoint's: the loop counts epochs from the checkpoint itself.
            newest = ray_private.training_result(
                type(latest.checkpoint)(posixpath.join(posixpath.dirname(latest.checkpoint.path.rstrip("/")), present[-1]),
                                        filesystem=latest.checkpoint.filesystem),
                latest.metrics,
            )
            ray_private.set_latest_checkpoint(manager, newest)
            # Tune never recorded the report that carried it: the trial reports its epoch again.
            storage.write_text(storage.join(trial_folder, present[-1], layout.UNRECORDED_FILE), "reported again on resume\n")
            lines.append(f"{where}: Tune's state names {named}, which is gone from storage; continues from {present[-1]}, the newest there")
        else:
            ray_private.set_latest_checkpoint(manager, None)
            lines.append(f"{where}: Tune's state names {named}, which is gone from storage, and no checkpoint is left; starts again")
        metadata.invalidate_cache()
        pair[1] = metadata.get_json_state()
        changed = True
    if changed:
        storage.write_text(path, json.dumps(state))
    return lines
