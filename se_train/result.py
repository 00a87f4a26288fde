"""The record a trial reports each epoch: every key, its type, and how a record is made. The loop
writes it (through Tune into each trial's result.json); the stopper, the MLflow callback, the live
view, `status`, the search's choice, adaptive seeds and the report read it. They all name keys
through `Key`, so a renamed key is one edit here. Free of Ray and torch, below everything.
"""

from __future__ import annotations

import math
from enum import StrEnum
from typing import Any


class Key(StrEnum):
    """A key of the epoch record. A `StrEnum`: it is its own string, so it indexes the dicts Tune
    returns and the DataFrame columns the report builds from them."""

    EPOCH = "epoch"  # 1-based
    LR = "lr"  # after the epoch's last step
    DIVERGED = "diverged"  # the trial stopped on a non-finite or too large loss or gradient
    PARAMS = "params"
    DEVICE = "device"  # "cpu" or the GPU's name
    WORKERS = "workers"
    PRECISION = "precision"  # fp32, bf16 or fp16
    TRAIN_LOSS = "train_loss"
    TRAIN_ACC = "train_acc"
    VALID_LOSS = "valid_loss"
    VALID_ACC = "valid_acc"
    TEST_LOSS = "test_loss"  # last epoch only: the final model, on the test split
    TEST_ACC = "test_acc"
    VALID_IMAGES = "valid_images"  # how many images valid_acc is over: it moves in steps of 1/valid_images
    TEST_IMAGES = "test_images"
    EPOCH_TIME_S = "epoch_time_s"  # training only
    EVAL_TIME_S = "eval_time_s"
    TRAIN_IMAGES = "train_images"  # all workers together
    TRAIN_IMAGES_PER_S = "train_images_per_s"
    GRAD_NORM = "grad_norm"  # the last step's; the bad one when diverged
    DIVERGED_STEP = "diverged_step"
    LAST_FINITE_LOSS = "last_finite_loss"


class Run(StrEnum):
    """A column of the runs table (one row per trial) that se-sweep derives from a trial's records;
    beside them the table has the cell's axes, every trial setting, and the keys above that a run
    has once (test_acc, device, ...). Documented for readers of runs.parquet in the README."""

    TRIAL_ID = "trial_id"  # Tune's, unique within its experiment
    EXPERIMENT = "experiment"  # the experiment folder or URI the run is in: with trial_id, a run's identity in a study
    SWEEP = "sweep"  # the sweep's name
    TRAIN_ROWS = "train_rows"  # the training split's rows, as the sweep recorded its dataset
    STATUS = "status"  # an Outcome
    EPOCHS_DONE = "epochs_done"
    EPOCHS_PLANNED = "epochs_planned"
    MIN_TRAIN_LOSS = "min_train_loss"  # over the epochs before any divergence
    MIN_VALID_LOSS = "min_valid_loss"
    MAX_TRAIN_ACC = "max_train_acc"
    MAX_VALID_ACC = "max_valid_acc"
    BEST_EPOCH = "best_epoch"  # the epoch of max_valid_acc
    TRAIN_TIME_S = "train_time_s"  # training only, no evaluation
    IMAGES_PER_S = "images_per_s"  # mean over the epochs
    DIVERGED_EPOCH = "diverged_epoch"
    ERROR = "error"  # an errored trial's exception, in one line


class TuneStatus(StrEnum):
    """A trial's status as Tune keeps it (`Trial.status`, and in its saved state)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    TERMINATED = "TERMINATED"
    ERROR = "ERROR"


FINISHED = (TuneStatus.TERMINATED, TuneStatus.ERROR)


class Outcome(StrEnum):
    """What a trial came to (`trial_status.run_status`)."""

    COMPLETED = "completed"
    DIVERGED = "diverged"
    ERRORED = "errored"
    STOPPED_EARLY = "stopped early"
    UNFINISHED = "unfinished"


IDENTITY = (Key.PARAMS, Key.DEVICE, Key.WORKERS, Key.PRECISION)  # the same every epoch of a trial
TYPES: dict[Key, type] = {
    Key.EPOCH: int, Key.DIVERGED: bool, Key.PARAMS: int, Key.DEVICE: str, Key.WORKERS: int, Key.PRECISION: str,
    **{k: float for k in Key if k not in (Key.EPOCH, Key.DIVERGED, *IDENTITY)},
}
MEASURED = tuple(k for k, kind in TYPES.items() if kind is float and k is not Key.LR)  # NaN where an epoch has none


def record(**values: Any) -> dict[str, Any]:
    """One epoch's record: every key present, NaN for what this epoch did not measure. Every report
    must have the same keys, because Tune's progress.csv takes its columns from a trial's first
    report and a resumed trial's rows must fit them."""
    unknown = values.keys() - set(Key)
    if unknown:
        raise ValueError(f"not keys of the epoch record: {sorted(unknown)}")
    return {str(k): v for k, v in {**dict.fromkeys(MEASURED, math.nan), **values}.items()}


def is_record(value: Any) -> bool:
    """Whether a parsed result.json line is an epoch record (what readers refuse otherwise)."""
    return isinstance(value, dict) and isinstance(value.get(Key.EPOCH), TYPES[Key.EPOCH])


class Verdict(StrEnum):
    """Where an effect stands, one set of words for every method: decided (better, worse,
    equivalent), or not: open while more seeds may come, unresolved at max when an adaptive
    sweep's max left it open, inconclusive for a grid that listed its seeds (no max, no more to come)."""

    BETTER = "better"
    WORSE = "worse"
    EQUIVALENT = "equivalent"
    OPEN = "open"
    UNRESOLVED = "unresolved at max"
    INCONCLUSIVE = "inconclusive"


DECIDED = (Verdict.BETTER, Verdict.WORSE, Verdict.EQUIVALENT)


class Method(StrEnum):
    """How an effect's intervals are made and looked at (`rule.py`): the three a `seeds:` block may
    choose (`CHOOSABLE`), and the fixed-n interval of a grid that lists its seeds."""

    SIGN_FLIP = "sign-flip"
    FIXED_HORIZON = "fixed-horizon"
    ANYTIME = "anytime"
    FIXED_N = "fixed n"


CHOOSABLE = (Method.SIGN_FLIP.value, Method.FIXED_HORIZON.value, Method.ANYTIME.value)  # seeds.method's choices, its default first
