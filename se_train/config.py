"""A sweep and its trials, typed: `SweepSpec` (what a sweep file says) and `TrialConfig` (the plain
dict a Tune trial receives), with each field's range. Reading a sweep file and checking it whole,
with errors that name the file and field, is `sweep_file.py`.

A sweep file has `name`, a `grid` (each axis a list of values), fixed `train` settings, and
`resources`, `stopping`, `storage` and `data_root`; `search:` and `seeds:` optionally. Every grid
cell plus the fixed settings is one `TrialConfig`.
"""

from __future__ import annotations

import itertools
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from se_train.models.catalog import ACTIVATION_NAMES, model_names, option_names
from se_train.result import Key


PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")  # no separator, no leading dot: never a path


def _plain_name(value: str) -> str:
    if not PLAIN_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a plain name (letters, digits, _ . -; not starting with a dot)")
    return value


def _one_of(value: str, choices: list[str]) -> str:
    if value not in choices:
        raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
    return value


class TrialConfig(BaseModel):
    """Everything one trial needs. Defaults are the 2017 study's (its constant.py)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str
    dataset: str  # a folder under data_root
    activation: str
    se: bool
    seed: int = Field(0, ge=0, lt=2**32)
    se_reduction: int | None = Field(None, ge=1)  # None: the model's default (simple_cnn 4 = 16 hidden, resnet50 16)
    image_size: int | None = Field(None, ge=8, le=2048)  # None: the dataset's native size; else bicubic resize on the device
    # resnet50 only; None: the model's default (imagenet, standard, False)
    stem: Literal["imagenet", "cifar"] | None = None
    head: Literal["standard", "study"] | None = None
    zero_init_last_bn: bool | None = None
    epochs: int = Field(10, ge=1, le=100_000, strict=True)
    batch_size: int = Field(50, ge=1, le=65_536)  # per worker
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(1e-4, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)  # sgd only (Nesterov off)
    weight_decay: float = Field(0.0, ge=0)
    schedule: Literal["exponential", "cosine", "constant"] = "exponential"
    decay_rate: float = Field(0.96, gt=0)  # exponential: lr * decay_rate ** (step / decay_steps), as tf.train.exponential_decay
    decay_steps: int = Field(100_000, ge=1)
    grad_clip: float | None = Field(None, gt=0)  # max global gradient norm
    augment: bool = False  # random crop + horizontal flip (not for digits)
    # standard: pixels scaled to [0, 1] and standardised by the train mean/std. raw: the 0-255
    # values fed as they are, to reproduce pipelines that forgot to scale (see StudySELU).
    inputs: Literal["standard", "raw"] = "standard"
    loss_ceiling: float = Field(1e3, gt=0)  # a training loss above this counts as diverged
    # torch.compile the model in the training loop. On 2 CPU cores compiling costs ~45 s for the
    # SimpleCNN and 92-110 s for ResNet-50 (6-10% faster after): long cells only, not 10-second ones.
    compile: bool = False
    # Autocast dtype of the forward pass. auto: bf16 on a GPU, fp32 on a CPU. fp16 trains with a
    # gradient scaler, whose skipped steps (an overflowed gradient) are not divergence.
    precision: Literal["auto", "bf16", "fp16", "fp32"] = "auto"
    # Read the test split and evaluate the final model on it. Off in a search's tries, so the test
    # split never chooses anything.
    test_split: bool = True
    # The final checkpoint keeps the optimizer state too, to train on from it; by default it holds
    # the weights only (a third of the disk with Adam), as a finished trial resumes no more.
    keep_optimizer_state: bool = False

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        return _one_of(v, model_names())

    @field_validator("dataset")
    @classmethod
    def _dataset(cls, v: str) -> str:
        return _plain_name(v)

    @field_validator("activation")
    @classmethod
    def _activation(cls, v: str) -> str:
        return _one_of(v, list(ACTIVATION_NAMES))

    @classmethod
    def planned(cls, config: dict[str, Any], field: str) -> Any:
        """A trial config's `field`, or its default where the config leaves it out (a grid axis
        some grids do not set)."""
        return config.get(field, cls.model_fields[field].default)

    def option_fields(self) -> dict[str, Any]:
        """The fields that are some model's options, for `build_model`; None takes its default."""
        return self.model_dump(include=option_names())


GRID_AXES_REQUIRED = ("model", "dataset", "activation", "se")


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workers_per_trial: int = Field(1, ge=1, le=4096)
    cpus_per_worker: float = Field(1, gt=0, le=1024)
    gpus_per_worker: float = Field(0, ge=0)  # fractional: small models share a GPU
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"  # a trial's workers over nodes
    max_concurrent_trials: int | None = Field(None, ge=1)  # None: as many as the cluster fits
    max_failures: int = Field(1, ge=-1)  # worker failures a trial recovers from (from its last checkpoint)
    # A split whose decoded pixels fit in this many MiB is read once and held on each worker's
    # device; a larger one streams through Ray Data every epoch. Fashion-MNIST train is 41 MiB,
    # CIFAR-10 132 MiB, ImageNet at 224 px ~180 GiB.
    in_memory_mb: float = Field(2048, gt=0)


class Asha(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_period: int = Field(1, ge=1)  # epochs before a trial can be stopped
    reduction_factor: float = Field(3, gt=1)


class Stopping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asha: Asha | None = None  # early stopping on valid_acc; divergence is always stopped


class Tracking(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mlflow: str | None = None  # tracking URI (http://host:5000, sqlite:///mlflow.db, ...); needs se-sweep[mlflow]
    experiment: str | None = None  # MLflow experiment name; default the sweep's name


SEARCHABLE = ("lr", "weight_decay", "momentum", "decay_rate")  # numeric training fields a search may tune


class Search(BaseModel):
    """Tune some training fields per grid cell on valid, before the comparison (`sweep/search.py`):
    `samples` settings tried per cell, each for `epochs` epochs on each of `seeds`."""

    model_config = ConfigDict(extra="allow")  # the searched fields, each a distribution

    samples: int = Field(ge=1, le=1000)
    epochs: int = Field(ge=1, le=100_000, strict=True)
    seeds: list[int] = Field(min_length=1)

    def space(self) -> dict[str, dict[str, list[Any]]]:
        """Each searched field and its distribution, e.g. {"lr": {"loguniform": [1e-5, 1e-2]}}."""
        return dict(self.model_extra or {})


SeedMetric = Literal[Key.VALID_ACC.value, Key.TEST_ACC.value]  # what an adaptive sweep decides on


class Seeds(BaseModel):
    """Seeds until each effect is decided (`se_train/decide.py`), in place of `grid.seed`: every
    cell first runs seeds 0..start-1; an effect still open adds the next seed to both of its cells,
    up to `max`. `margin`: points of accuracy within which an effect is no practical difference.
    `confidence`: for all of a sweep's verdicts together. `method`: fixed-horizon (the most power
    for planned looks start..max) or anytime (valid at every n, so a sweep may grow its max)."""

    model_config = ConfigDict(extra="forbid")

    start: int = Field(3, ge=2, le=1000, strict=True)  # one pair has no spread to judge by
    max: int = Field(20, ge=2, le=1000, strict=True)
    margin: float = Field(gt=0, le=100)
    confidence: float = Field(0.95, gt=0, lt=1)
    metric: SeedMetric = Key.VALID_ACC.value  # best valid accuracy over the epochs, or the final model's test accuracy
    method: Literal["fixed-horizon", "anytime"] = "fixed-horizon"  # as decide.METHODS
    rho: float | None = Field(None, gt=0, le=100)  # anytime only: the t-mixture's prior precision; None: decide.RHO, measured

    @field_validator("max")
    @classmethod
    def _max(cls, v: int, info) -> int:
        start = info.data.get("start")
        if start is not None and v < start:
            raise ValueError(f"{v} is below start ({start}); no cell runs more than max seeds")
        return v


class Compare(BaseModel):
    """A comparison the sweep decides: `treated` against `control` on one grid axis, paired by seed
    within cells that agree on every other axis."""

    model_config = ConfigDict(extra="forbid")

    axis: str
    treated: Any
    control: Any


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str  # the experiment's folder under storage
    data_root: str = "data"
    storage: str = "experiments"  # local folder or URI (s3://, gs://); multi-node runs need shared storage
    # One grid (axis -> values) or a list of grids whose cells are concatenated, for studies whose
    # datasets need different settings (MNIST at 28 px, CIFAR-10 at 128 px, ...).
    grid: dict[str, list[Any]] | list[dict[str, list[Any]]]
    train: dict[str, Any] = {}
    resources: Resources = Resources()
    stopping: Stopping = Stopping()
    tracking: Tracking = Tracking()
    search: Search | None = None  # none: every cell at the file's settings, as always
    seeds: Seeds | None = None  # none: the grid's seeds, fixed in advance
    compare: list[Compare] | None = None  # none: SE − no SE and SELU − ReLU, wherever their axes vary

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _plain_name(v)

    def grids(self) -> list[dict[str, list[Any]]]:
        return self.grid if isinstance(self.grid, list) else [self.grid]

    def axes(self) -> list[str]:
        """Every grid axis, in order of first appearance."""
        return list(dict.fromkeys(axis for grid in self.grids() for axis in grid))

    def cells(self) -> list[dict[str, Any]]:
        """Every grid cell merged with the fixed settings, in file order (last axis fastest).
        Each cell has every axis of every grid (a grid without an axis takes its default)."""
        defaults = {a: TrialConfig.model_fields[a].default for a in self.axes() if a not in GRID_AXES_REQUIRED}
        return [
            {**defaults, **self.train, **dict(zip(grid, values))}
            for grid in self.grids()
            for values in itertools.product(*grid.values())
        ]

    def trials(self) -> list[TrialConfig]:
        return [TrialConfig(**cell) for cell in self.cells()]
