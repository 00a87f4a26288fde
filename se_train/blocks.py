"""A sweep file's blocks beside its grid: `resources`, `stopping`, `tracking`, and the three that
ask questions of the grid: `search` (each cell at its own best setting), `seeds` (seeds until each
effect is decided) and `compare` (which effects). Each a strict pydantic model; the rules across
blocks are `sweep_rules.py`'s."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError, model_validator

from se_train.result import CHOOSABLE, Key, Method
from se_train.trial_config import Seed, field_type
from se_train.validation import STRICT, Given, Problems


class Resources(BaseModel):
    model_config = STRICT

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
    model_config = STRICT

    grace_period: int = Field(1, ge=1)  # epochs before a trial can be stopped
    reduction_factor: float = Field(3, gt=1)


class Stopping(BaseModel):
    model_config = STRICT

    asha: Asha | None = None  # early stopping on valid_acc; divergence is always stopped


class Tracking(BaseModel):
    model_config = STRICT

    mlflow: str | None = None  # tracking URI (http://host:5000, sqlite:///mlflow.db, ...); needs se-sweep[mlflow]
    experiment: str | None = None  # MLflow experiment name; default the sweep's name
    wandb: str | None = Field(None, min_length=1)  # W&B project: every trial a run in it, grouped by the sweep; needs se-sweep[wandb]


class Distribution(Given):
    """How a search draws one field: exactly one of these."""

    loguniform: list[float] | None = Field(None, min_length=2, max_length=2)  # [low, high]
    uniform: list[float] | None = Field(None, min_length=2, max_length=2)
    choice: list[float] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one(self) -> "Distribution":
        kinds = ", ".join(Distribution.model_fields)
        if len(self._order) != 1:
            raise ValueError(f"give one distribution, e.g. {{loguniform: [low, high]}} ({kinds})")
        problems = Problems()
        (kind, values), = self.given().items()
        if kind != "choice" and values[0] >= values[1]:
            problems.add((kind,), f"low {values[0]} is not below high {values[1]}", values)
        elif kind == "loguniform" and values[0] <= 0:
            problems.add((kind,), f"low {values[0]} must be above 0 on a log scale", values)
        problems.raise_any("Distribution")
        return self


class Search(Given):
    """Tune some training fields per grid cell on valid, before the comparison (`sweep/search.py`):
    `samples` settings tried per cell, each for `epochs` epochs on each of `seeds`; each searched
    field (lr, weight_decay, momentum, decay_rate) with its distribution."""

    samples: int = Field(ge=1, le=1000)
    epochs: int = Field(ge=1, le=100_000)
    seeds: list[Seed] = Field(min_length=1)  # seeds of trials, as the grid's are
    lr: Distribution | None = None
    weight_decay: Distribution | None = None
    momentum: Distribution | None = None
    decay_rate: Distribution | None = None

    @model_validator(mode="after")
    def _bounds(self) -> "Search":
        problems = Problems()
        if not self.space():
            problems.add((), f"no field to search (one of {', '.join(SEARCHABLE)}), e.g. lr: {{loguniform: [1.0e-5, 1.0e-2]}}")
        for name, dist in self.space().items():
            (kind, values), = dist.items()
            for i, value in enumerate(values):  # each bound a value the field takes (momentum below 1, ...)
                try:
                    TypeAdapter(field_type(name)).validate_python(value)
                except ValidationError as e:
                    problems.add((name, kind, i), e.errors()[0]["msg"].removeprefix("Value error, "), value)
        problems.raise_any("Search")
        return self

    def space(self) -> dict[str, dict[str, list[Any]]]:
        """Each searched field and its distribution, e.g. {"lr": {"loguniform": [1e-5, 1e-2]}}."""
        return {name: value.given() for name, value in self.given().items() if name in SEARCHABLE and value is not None}


SEARCHABLE = ("lr", "weight_decay", "momentum", "decay_rate")  # numeric training fields a search may tune


SeedMetric = Literal[Key.VALID_ACC.value, Key.TEST_ACC.value]  # what an adaptive sweep decides on


class Seeds(BaseModel):
    """Seeds until each effect is decided (`se_train/decide.py`), in place of `grid.seed`: every
    cell first runs seeds 0..start-1; an effect still open adds the next seed to both of its cells,
    up to `max`. `margin`: points of accuracy within which an effect is no practical difference.
    `confidence`: for all of a sweep's verdicts together. `method`: sign-flip (exact for any
    symmetric differences, coarse accuracy included; planned looks start..max), fixed-horizon (the
    same looks by t-intervals: exact for normal differences only) or anytime (valid at every n, so
    a sweep may grow its max)."""

    model_config = STRICT

    start: int = Field(3, ge=2, le=1000)  # one pair has no spread to judge by
    max: int = Field(20, ge=2, le=1000)
    margin: float = Field(gt=0, le=100)
    confidence: float = Field(0.95, gt=0, lt=1)
    metric: SeedMetric = Key.VALID_ACC.value  # best valid accuracy over the epochs, or the final model's test accuracy
    method: Literal[CHOOSABLE] = CHOOSABLE[0]  # the engine's methods (`result.Method`)
    rho: float | None = Field(None, gt=0, le=100)  # anytime only: the t-mixture's prior precision; None: rule.RHO, measured

    @model_validator(mode="after")
    def _max(self) -> "Seeds":
        problems = Problems()
        if self.max < self.start:
            problems.add(("max",), f"{self.max} is below start ({self.start}); no cell runs more than max seeds", self.max)
        if self.rho is not None and self.method != Method.ANYTIME:
            problems.add(("rho",), f"acts only under method: anytime (the t-mixture's prior precision); this sweep's method is "
                                   f"{self.method}: remove rho or set method: anytime", self.rho)
        problems.raise_any("Seeds")
        return self


class Compare(BaseModel):
    """A comparison the sweep decides: `treated` against `control` on one grid axis, paired by seed
    within cells that agree on every other axis."""

    model_config = STRICT

    axis: str
    treated: Any
    control: Any
