"""The live view of `se-sweep run`: Tune's progress reporter printing the compact block of
`trial_status.render`: the trials running, the last few finished and the counts. On a terminal
each block replaces the last; elsewhere (CI, `ray job logs`) blocks follow each other."""

from __future__ import annotations

import sys
import time
from datetime import datetime

from ray import tune

from se_train.result import Outcome, TuneStatus
from se_train.trial_status import elapsed, last_reported, VIEW_STATES, render, run_status, trial_line

FINISHED_SHOWN = 5  # finished trials listed; a 300-trial sweep's view would scroll away otherwise
_UNFINISHED = {TuneStatus.RUNNING: "running", TuneStatus.PENDING: "pending", TuneStatus.PAUSED: "pending"}  # as Tune has it now


class CompactReporter(tune.ProgressReporter):
    """Tune's progress output for `se-sweep run`: the compact block of `trial_status.render`, every
    `every_s` while trials run and once at the end, instead of Tune's table of every
    hyperparameter (about 220 characters wide on a 16-CPU node)."""

    def __init__(self, every_s: float = 15.0, named: tuple[str, ...] = (), planned: int = 0, started: datetime | None = None) -> None:
        self.every_s = every_s
        self.named = named  # the fields a trial's line names beyond its cell (`trial_status.named_fields`)
        self.planned = planned  # trials of the whole grid: Tune creates them as slots free up
        self.seeds = None  # adaptive seeds: the searcher, set by the runner for each run (not pickled)
        self.started = started  # the sweep's (sweep.json's), as status and the report count from
        self.start = self.last = time.time()  # wall clock: a restored sweep's reporter comes back pickled

    def should_report(self, trials, done: bool = False) -> bool:
        return done or time.time() - self.last >= self.every_s

    def report(self, trials, done: bool, *sys_info) -> None:
        self.last = time.time()
        lines = []
        for t in trials:
            last = t.last_result or {}
            outcome = run_status(t.status, t.config, [last] if last else [])
            state = _UNFINISHED.get(t.status, "unfinished") if outcome == Outcome.UNFINISHED else VIEW_STATES[outcome]
            lines.append(trial_line(t.config, last, state, getattr(self, "named", getattr(self, "searched", ()))))  # older pickles: searched
        seeds = getattr(self, "seeds", None)  # older pickles lack both
        to_come = seeds.to_come() if seeds else max(getattr(self, "planned", 0) - len(lines), 0)
        # At the end the clock stops at the last report, as `status` counts: both then say one time.
        until = (done and last_reported([t.last_result or {} for t in trials])) or self.last
        took = elapsed(getattr(self, "started", None), until) or until - self.start  # older pickles lack started
        block = render(lines, took, to_come, seeds.lines() if seeds else (), finished_shown=FINISHED_SHOWN)
        drawn = getattr(self, "drawn", 0)  # older pickles lack it
        if drawn and sys.stdout.isatty():
            print(f"\x1b[{drawn}F\x1b[J", end="")  # up to the last block's first line, and clear below
        print(block, flush=True)
        self.drawn = block.count("\n") + 1  # print's own newline

    def __getstate__(self) -> dict:
        return {**self.__dict__, "seeds": None, "drawn": 0}  # the searcher is Tune's to save; a restored view draws anew
