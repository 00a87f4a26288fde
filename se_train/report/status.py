"""`se-sweep status EXPERIMENT`: the compact per-trial view of a running or finished sweep, read
from its folder or URI alone (no Ray): each trial's line, the totals, the wall time so far, and
the trials `se-sweep resume` would rerun."""

from __future__ import annotations


from se_train.result import Outcome
from se_train import experiment as layout
from se_train import tune_files
from se_train import storage
from se_train.config import SweepSpec
from se_train.progress import Progress, comparisons_of
from se_train.mlflow_runs import INCOMPLETE_TAG
from se_train.trial_status import elapsed, last_reported, VIEW_STATES, named_fields, render, run_status, trial_line

RERUN = (Outcome.UNFINISHED, Outcome.ERRORED)  # what `se-sweep resume` continues (resume_unfinished, resume_errored)


def status(experiment: str) -> str:
    experiment = storage.normalize(experiment)
    record = layout.read_sweep(experiment)
    if not record.spec.search:
        return _view(experiment, record)
    # Both stages: the search's tries, then the comparison at each cell's chosen setting.
    folder = storage.join(experiment, layout.SEARCH_DIR)
    searched = status(folder) if layout.is_experiment(folder) else "not started\n"
    compared = _view(experiment, record) if layout.read_chosen(experiment) else "not started: the search is not done\n"
    return f"stage 1, the search:\n{searched}\nstage 2, the comparison at each cell's chosen setting:\n{compared}"


def _view(experiment: str, record: layout.SweepRecord) -> str:
    trials = tune_files.read_state(experiment)
    if not trials:
        return f"{experiment}: no trials yet (Tune has saved no state)\n"
    lines, rerun, notes, runs = [], [], [], []
    for t in trials:
        results = tune_files.read_results(experiment, t.folder, notes)
        run = run_status(t.status, t.config, results)
        runs.append((t.config, run, results))
        line = trial_line(t.config, results[-1] if results else {}, VIEW_STATES[run], named_fields(record.spec, record.searched))
        lines.append(line)
        if run in RERUN:
            rerun.append(line.cell)
    took = elapsed(record.started, last_reported([results[-1] for _, _, results in runs if results])) or 0.0
    spec = record.spec
    seeds = _seed_lines(spec, runs) if spec.seeds else []
    # Tune creates a grid's trials as slots free up: an interrupted sweep has cells with no trial yet.
    to_come = 0 if spec.seeds else max(len(spec.cells()) - len(trials), 0)
    out = [f"sweep {record.name}: {experiment}", render(lines, took, to_come, notes=seeds)]
    if rerun or to_come:
        out.append(f"resume would rerun {len(rerun)}" + (f": {', '.join(rerun)}" if rerun else "") + (f", and start the {to_come} to come" if to_come else ""))
    else:
        out.append("resume would rerun nothing: every trial has finished")
    gaps = layout.read_gaps(experiment)
    if gaps:
        cells = [trial_line(t.config, {}, "").cell for t in trials if t.trial_id in gaps]
        out.append(f"MLflow missed results of {len(gaps)} trial run(s), tagged {INCOMPLETE_TAG}: {', '.join(cells)}")
    out += notes
    return "\n".join(out) + "\n"


def errored(experiment: str) -> list[str]:
    """The trials of a sweep (its search's tries too) that ended in error: what `run` and
    `resume` turn into a non-zero exit status. A diverged trial is a result, not an error."""
    experiment = storage.normalize(experiment)
    folders = [experiment, storage.join(experiment, layout.SEARCH_DIR)]
    lines = []
    for folder in (f for f in folders if layout.is_experiment(f)):
        for t in tune_files.read_state(folder):
            results = tune_files.read_results(folder, t.folder, [])
            if run_status(t.status, t.config, results) == Outcome.ERRORED:
                lines.append(trial_line(t.config, results[-1] if results else {}, "").cell)
    return lines


def _seed_lines(spec: SweepSpec, trials: list[tuple[dict, str, list[dict]]]) -> list[str]:
    """An adaptive sweep's seeds per cell and effects still open, decided by the sweep's own rule
    from what its trials reported (`decide`)."""
    state = Progress.of([config for config, _, _ in trials], spec.axes(), spec.seeds, comparisons_of(spec))
    for config, run, results in trials:
        if run in (Outcome.COMPLETED, Outcome.DIVERGED, Outcome.ERRORED):
            state.record(config, results, run == Outcome.ERRORED)
    return state.lines()
