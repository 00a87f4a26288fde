"""Sweep files and trial configs: typed, validated, with errors that name the file and field.

A sweep file has `name`, a `grid` (each axis a list of values), fixed `train` settings, and
`resources`, `stopping`, `storage` and `data_root`. Every grid cell plus the fixed settings is one
`TrialConfig`, the plain dict a Tune trial receives.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from se_train.errors import UserError
from se_train.models.layers import ACTIVATIONS
from se_train.models.registry import model_names


def _one_of(value: str, choices: list[str]) -> str:
    if value not in choices:
        raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
    return value


class TrialConfig(BaseModel):
    """Everything one trial needs. Defaults are the 2017 study's (its constant.py)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str
    dataset: str
    activation: str
    se: bool
    seed: int = 0
    se_reduction: int | None = None  # None: the model's default (simple_cnn 4 = 16 hidden, resnet50 16)
    image_size: int | None = None  # None: the dataset's native size; else bicubic resize on the device
    stem: Literal["imagenet", "cifar"] = "imagenet"  # resnet50 only
    head: Literal["standard", "study"] = "standard"  # resnet50 only
    zero_init_last_bn: bool = False  # resnet50 only
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(50, ge=1)  # per worker
    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(1e-4, gt=0)
    momentum: float = 0.9  # sgd only (Nesterov off)
    weight_decay: float = Field(0.0, ge=0)
    schedule: Literal["exponential", "cosine", "constant"] = "exponential"
    decay_rate: float = 0.96  # exponential: lr * decay_rate ** (step / decay_steps), as tf.train.exponential_decay
    decay_steps: int = Field(100_000, ge=1)
    grad_clip: float | None = Field(None, gt=0)  # max global gradient norm
    augment: bool = False  # random crop + horizontal flip (not for digits)
    # standard: pixels scaled to [0, 1] and standardised by the train mean/std. raw: the 0-255
    # values fed as they are, to reproduce pipelines that forgot to scale (see StudySELU).
    inputs: Literal["standard", "raw"] = "standard"
    loss_ceiling: float = Field(1e3, gt=0)  # a training loss above this counts as diverged

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        return _one_of(v, model_names())

    @field_validator("activation")
    @classmethod
    def _activation(cls, v: str) -> str:
        return _one_of(v, list(ACTIVATIONS))


GRID_AXES_REQUIRED = ("model", "dataset", "activation", "se")


class Resources(BaseModel):
    model_config = ConfigDict(extra="forbid")

    workers_per_trial: int = Field(1, ge=1)
    cpus_per_worker: float = Field(1, gt=0)
    gpus_per_worker: float = Field(0, ge=0)  # fractional: small models share a GPU
    placement_strategy: Literal["PACK", "SPREAD", "STRICT_PACK", "STRICT_SPREAD"] = "PACK"  # a trial's workers over nodes
    max_concurrent_trials: int | None = Field(None, ge=1)  # None: as many as the cluster fits
    max_failures: int = Field(1, ge=-1)  # worker failures a trial recovers from (from its last checkpoint)


class Asha(BaseModel):
    model_config = ConfigDict(extra="forbid")

    grace_period: int = Field(1, ge=1)  # epochs before a trial can be stopped
    reduction_factor: float = Field(3, gt=1)


class Stopping(BaseModel):
    model_config = ConfigDict(extra="forbid")

    asha: Asha | None = None  # early stopping on valid_acc; divergence is always stopped


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    data_root: str = "data"
    storage: str = "experiments"  # local folder or URI (s3://, gs://); multi-node runs need shared storage
    # One grid (axis -> values) or a list of grids whose cells are concatenated, for studies whose
    # datasets need different settings (MNIST at 28 px, CIFAR-10 at 128 px, ...).
    grid: dict[str, list[Any]] | list[dict[str, list[Any]]]
    train: dict[str, Any] = {}
    resources: Resources = Resources()
    stopping: Stopping = Stopping()

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


def _field_error(source: str, e: ValidationError, prefix: tuple = ()) -> UserError:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in (*prefix, *err["loc"]))
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "missing":
        msg = "required field is missing"
    return UserError(f"{source}: {loc}: {msg}")


def load_sweep(path: Path) -> SweepSpec:
    """Read and validate a sweep file. Every error names the file and the field."""
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise UserError(f"{path}: no such sweep file") from None
    except yaml.YAMLError as e:
        raise UserError(f"{path}: not valid YAML ({e})".replace("\n", " ")) from None
    return parse_sweep(raw, str(path))


def parse_sweep(raw: Any, source: str) -> SweepSpec:
    if not isinstance(raw, dict):
        raise UserError(f"{source}: expected a mapping of sweep settings")
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as e:
        raise _field_error(source, e) from None
    fields = TrialConfig.model_fields
    for g, grid in enumerate(spec.grids()):
        where = "grid" if isinstance(spec.grid, dict) else f"grid[{g}]"
        for axis in GRID_AXES_REQUIRED:
            if axis not in grid:
                raise UserError(f"{source}: {where}.{axis}: required axis is missing")
        for axis, values in grid.items():
            if axis not in fields:
                raise UserError(f"{source}: {where}.{axis}: unknown axis (one of {', '.join(fields)})")
            if not values:
                raise UserError(f"{source}: {where}.{axis}: empty list")
            if axis in spec.train:
                raise UserError(f"{source}: train.{axis}: also a grid axis; set it in one place")
            for i, value in enumerate(values):
                _validate_field(source, f"{where}.{axis}[{i}]", axis, value)
    for key, value in spec.train.items():
        if key not in fields:
            raise UserError(f"{source}: train.{key}: unknown field")
        _validate_field(source, f"train.{key}", key, value)
    for i, cell in enumerate(spec.cells()):
        try:
            TrialConfig(**cell)
        except ValidationError as e:
            raise _field_error(source, e, ("trial", i)) from None
    return spec


def _validate_field(source: str, where: str, name: str, value: Any) -> None:
    try:
        TrialConfig.__pydantic_validator__.validate_assignment(TrialConfig.model_construct(), name, value)
    except ValidationError as e:
        msg = e.errors()[0]["msg"].removeprefix("Value error, ")
        raise UserError(f"{source}: {where}: {msg}") from None
