"""A trial's outcome and its one-line view, shared by the live view and the report, below both
and free of Ray.

- `run_status`: what a trial came to (one of STATUSES), from Tune's status and its reports.
- The compact view of a sweep: one line per trial (its cell, epoch k/n, last valid accuracy and
  loss, images/s, state), then the counts and an ETA. `se-sweep run` prints it live through Ray
  Tune's progress reporter (`runner.CompactReporter`); `se-sweep status` prints it from the
  experiment folder.

Plain lines, no control characters: it reads the same on a terminal, in CI and in `ray job logs`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from se_train import cell
from se_train.cell import NAMED
from se_train.config import SweepSpec
from se_train.trial_config import TrialConfig
from se_train.result import Key, Outcome, TuneStatus

STATUSES = tuple(Outcome)


def run_status(tune_status: TuneStatus, cfg: dict, results: list[dict]) -> str:
    """One of STATUSES, from Tune's status of the trial and what it reported."""
    last = results[-1] if results else {}
    if last.get(Key.DIVERGED):
        return Outcome.DIVERGED
    if tune_status == TuneStatus.ERROR:
        return Outcome.ERRORED
    if tune_status == TuneStatus.TERMINATED:
        planned = TrialConfig.planned(cfg, "epochs")
        return Outcome.COMPLETED if last.get(Key.EPOCH) == planned else Outcome.STOPPED_EARLY
    return Outcome.UNFINISHED


def hms(seconds: float) -> str:
    """HH:MM:SS, to the hundredth under 10 s (a SimpleCNN's run on digits: 00:00:00.84, not 00:00:01)."""
    return durations([seconds])[0]


def durations(seconds: list[float]) -> list[str]:
    """A column of times in one format: HH:MM:SS, every one to the hundredth where the shortest is
    under 10 s (00:00:16.20 beside 00:00:00.74)."""
    known = [v for v in seconds if math.isfinite(v)]
    fine = min(known, default=10) < 10
    out = []
    for value in seconds:
        if not math.isfinite(value):
            out.append("–")  # no run of the row timed its training
            continue
        cents = round(value * 100) if fine else round(value) * 100
        whole = cents // 100
        out.append(f"{whole // 3600:02d}:{whole % 3600 // 60:02d}:{whole % 60:02d}" + (f".{cents % 100:02d}" if fine else ""))
    return out


def last_reported(results: Sequence[dict[str, Any]]) -> float | None:
    """When the last of `results` (each trial's last) was reported: where a sweep's clock stops
    once every trial has ended, for the live view's last block as for `status` and the report."""
    return max((r.get("timestamp", 0) for r in results), default=0) or None


def elapsed(started: datetime | None, until: float | None) -> float | None:
    """Seconds from a sweep's start (sweep.json's `started`) to `until` (a timestamp): the one clock
    of the live view (until now), `status` and the report (until the last reported epoch)."""
    return until - started.timestamp() if started and until else None


@dataclass
class TrialLine:
    cell: str  # e.g. "resnet50 mnist selu SE s1"
    epoch: int  # epochs reported so far
    epochs: int  # planned
    valid_acc: float
    valid_loss: float
    images_per_s: float
    state: str  # pending, running, done, stopped early, diverged @ k, error

    def row(self, width: int) -> str:
        """The line, its cell padded to `width` (the block's longest name)."""
        acc = "     -" if math.isnan(self.valid_acc) else f"{100 * self.valid_acc:5.1f}%"
        loss = "     -" if math.isnan(self.valid_loss) else f"{self.valid_loss:6.3f}"
        speed = "      -" if math.isnan(self.images_per_s) else f"{self.images_per_s:7,.0f}"
        return f"{self.cell:<{width}} {self.epoch:>4}/{self.epochs:<4} {acc} {loss} {speed}  {self.state}"


# A trial's outcome (`run_status`) as the view names it; a diverged trial's line
# names its epoch itself.
VIEW_STATES = {Outcome.COMPLETED: "done", Outcome.STOPPED_EARLY: "stopped early", Outcome.ERRORED: "error", Outcome.UNFINISHED: "unfinished",
               Outcome.DIVERGED: "diverged"}

CELL_WIDTH = 32  # the trial column's least width; a longer name (with lr=… and an option) widens it


def header(width: int) -> str:
    return f"{'trial':<{width}} {'epoch':^9} {'valid':>6} {'loss':>6} {'img/s':>7}  state"




def named_fields(spec: SweepSpec, searched: Sequence[str] = ()) -> tuple[str, ...]:
    """The fields a trial's name adds to NAMED: the other grid axes that tell apart trials NAMED
    alone would name alike (lr, a model's own option; not the epochs each model of a list of grids
    has), then a search's fields (its tries of one cell differ only in them)."""
    values: dict[str, dict[tuple, set[str]]] = {}
    for config in spec.cells():
        key = tuple(repr(config.get(n)) for n in NAMED)
        for axis in spec.axes():
            values.setdefault(axis, {}).setdefault(key, set()).add(repr(config.get(axis)))
    varied = [a for a in spec.axes() if a not in (*NAMED, *searched) and any(len(v) > 1 for v in values[a].values())]
    return (*varied, *searched)


def trial_line(config: dict[str, Any], last: dict[str, Any], state: str, extra: Sequence[str] = ()) -> TrialLine:
    """A trial's line from its config, its last reported result (empty before the first) and its
    state; a diverged trial says so, with its epoch. `extra`: fields named after the cell."""
    if last.get(Key.DIVERGED):
        state = f"diverged @ {last.get('epoch')}"
    return TrialLine(
        cell=cell.name(config, extra),
        epoch=int(last.get(Key.EPOCH, 0)),
        epochs=int(TrialConfig.planned(config, "epochs")),
        valid_acc=float(last.get(Key.VALID_ACC, math.nan)),
        valid_loss=float(last.get(Key.VALID_LOSS, math.nan)),
        images_per_s=float(last.get(Key.TRAIN_IMAGES_PER_S, math.nan)),
        state=state,
    )


def render(lines: list[TrialLine], elapsed_s: float, to_come: int = 0, notes: Sequence[str] = (), finished_shown: int | None = None) -> str:
    """The block: a header, one line per trial, then counts (`to_come`: trials not created yet),
    elapsed time and an ETA from the epochs done so far (finished or stopped trials count as
    done; a trial to come as many epochs as the average one), then `notes`. `finished_shown`:
    list only that many of the finished trials, the last ones (a 300-trial sweep's live view), and
    every trial still running; the counts count them all."""
    counts: dict[str, int] = {}
    for line in lines:
        key = "diverged" if line.state.startswith("diverged") else line.state
        counts[key] = counts.get(key, 0) + 1
    finished = lambda state: state in ("done", "stopped early", "error") or state.startswith("diverged")  # noqa: E731
    done = sum(l.epochs if finished(l.state) else l.epoch for l in lines)
    total = sum(l.epochs for l in lines)
    total += round(to_come * total / len(lines)) if lines else 0
    eta = "?" if not done else "none: all done" if total <= done else hms(elapsed_s / done * (total - done))
    if to_come:
        counts["to come"] = to_come
    summary = ", ".join(f"{n} {state}" for state, n in counts.items())
    closing = f"{len(lines) + to_come} trials: {summary}; elapsed {hms(elapsed_s)}, ETA {eta}"
    ended = [i for i, line in enumerate(lines) if finished(line.state)]
    hidden = set(ended[:len(ended) - finished_shown]) if finished_shown is not None and len(ended) > finished_shown else set()
    shown = [line for i, line in enumerate(lines) if i not in hidden]
    width = max([CELL_WIDTH, *(len(line.cell) for line in shown)])
    listed = [f"({len(hidden)} earlier finished trials not listed: `se-sweep status` lists every trial)"] if hidden else []
    return "\n".join([header(width), *listed, *(line.row(width) for line in shown), closing, *notes, ""])
