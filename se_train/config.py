"""Sweep files and trial configs: typed, validated, with errors that name the file and field.

A sweep file has `name`, a `grid` (each axis a list of values), fixed `train` settings, and
`resources`, `stopping`, `storage` and `data_root`. Every grid cell plus the fixed settings is one
`TrialConfig`, the plain dict a Tune trial receives.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from se_train.errors import UserError
from se_train.models.layers import ACTIVATIONS
from se_train.models.registry import model_names, option_names, options_taken


PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")  # no separator, no leading dot: never a path
MAX_CELLS = 10_000  # a grid beyond this is a typo (a seed range pasted in), not a study


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
        return _one_of(v, list(ACTIVATIONS))

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


class Seeds(BaseModel):
    """Seeds until each SE and SELU effect is decided (`se_train/decide.py`), in place of `grid.seed`:
    every cell first runs seeds 0..start-1; an effect still open adds the next seed to both of its
    cells, up to `max`. `margin`: points of accuracy within which an effect is no practical
    difference. `confidence`: for all of a sweep's verdicts together."""

    model_config = ConfigDict(extra="forbid")

    start: int = Field(3, ge=2, le=1000, strict=True)  # one pair has no spread to judge by
    max: int = Field(20, ge=2, le=1000, strict=True)
    margin: float = Field(gt=0, le=100)
    confidence: float = Field(0.95, gt=0, lt=1)
    metric: Literal["valid_acc", "test_acc"] = "valid_acc"  # best valid accuracy over the epochs, or the final model's test accuracy

    @field_validator("max")
    @classmethod
    def _max(cls, v: int, info) -> int:
        start = info.data.get("start")
        if start is not None and v < start:
            raise ValueError(f"{v} is below start ({start}); no cell runs more than max seeds")
        return v


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


def _field_error(source: str, e: ValidationError, prefix: tuple = ()) -> UserError:
    err = e.errors()[0]
    # pydantic names a union's member in the path (grid.dict[str,list[any]].seed): keep the fields
    loc = ".".join(str(p) for p in (*prefix, *err["loc"]) if "[" not in str(p))
    msg = err["msg"].removeprefix("Value error, ")
    if err["loc"][:1] == ("grid",) and err["type"] == "list_type":
        msg = "give a list, e.g. [0]"
    elif err["type"] == "extra_forbidden":
        msg = "unknown field"
    elif err["type"] == "missing":
        msg = "required field is missing"
    return UserError(f"{source}: {loc}: {msg}")


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"key {key!r} given twice, on lines {seen[key]} and {line}", key_node.start_mark
                )
            seen[key] = line
        return super().construct_mapping(node, deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _UniqueKeyLoader.construct_mapping)


def load_sweep(path: Path) -> SweepSpec:
    """Read and validate a sweep file. Every error names the file and the field."""
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)
    except FileNotFoundError:
        raise UserError(f"{path}: no such sweep file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a folder; give a sweep file, e.g. sweeps/smoke.yaml") from None
    except UnicodeDecodeError as e:
        raise UserError(f"{path}: not UTF-8 text (byte {e.start})") from None
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
    cells = sum(math.prod(len(v) for v in grid.values()) for grid in spec.grids())
    if cells > MAX_CELLS:
        g, grid = max(enumerate(spec.grids()), key=lambda item: math.prod(len(v) for v in item[1].values()))
        axis = max(grid, key=lambda a: len(grid[a]))
        where = "grid" if isinstance(spec.grid, dict) else f"grid[{g}]"
        raise UserError(
            f"{source}: grid: {cells:,} cells, more than {MAX_CELLS:,}; {where}.{axis} has {len(grid[axis]):,} values: longer than meant?"
        )
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
                if value in values[:i]:
                    raise UserError(f"{source}: {where}.{axis}[{i}]: {value!r} is listed twice; each trial would run twice")
    for key, value in spec.train.items():
        if key not in fields:
            raise UserError(f"{source}: train.{key}: unknown field")
        _validate_field(source, f"train.{key}", key, value)
    _check_repeats(spec, source)
    if spec.seeds:
        _check_seeds(spec, source)
    if spec.search:
        _check_search(spec, source)
    for i, cell in enumerate(spec.cells()):
        try:
            trial = TrialConfig(**cell)
        except ValidationError as e:
            raise _field_error(source, e, ("trial", i)) from None
        try:
            options_taken(trial.model, trial.option_fields())
        except UserError as e:
            raise UserError(f"{source}: trial.{i}: {e}") from None
    return spec


def _check_repeats(spec: SweepSpec, source: str) -> None:
    """No trial twice: a list of grids whose expansions share a cell would run it twice."""
    if isinstance(spec.grid, dict):
        return  # one grid: its axes hold no value twice (checked per axis)
    seen: dict[str, int] = {}
    for g, grid in enumerate(spec.grids()):
        defaults = {a: TrialConfig.model_fields[a].default for a in spec.axes() if a not in GRID_AXES_REQUIRED}
        for values in itertools.product(*grid.values()):
            cell = {**defaults, **spec.train, **dict(zip(grid, values))}
            key = json.dumps(cell, sort_keys=True, default=str)
            if seen.setdefault(key, g) != g:
                named = ", ".join(f"{a}={cell[a]}" for a in spec.axes() if a in cell)
                raise UserError(f"{source}: grid[{g}]: the trial {named} is also in grid[{seen[key]}]; it would run twice")


def _check_seeds(spec: SweepSpec, source: str) -> None:
    """Seeds are the `seeds:` block's alone, and every trial runs to its planned end."""
    for g, grid in enumerate(spec.grids()):
        if "seed" in grid:
            where = "grid" if isinstance(spec.grid, dict) else f"grid[{g}]"
            raise UserError(f"{source}: {where}.seed: the seeds: block chooses the seeds; drop grid.seed or seeds:")
    if "seed" in spec.train:
        raise UserError(f"{source}: train.seed: the seeds: block chooses the seeds; drop train.seed or seeds:")
    if spec.seeds.metric == "test_acc" and spec.train.get("test_split") is False:
        raise UserError(f"{source}: seeds.metric: test_acc needs the test split, which train.test_split: false leaves unread")
    if spec.stopping.asha:
        raise UserError(f"{source}: stopping.asha: a trial stopped early has no final {spec.seeds.metric} to pair; drop asha or seeds:")


DISTRIBUTIONS = ("loguniform", "uniform", "choice")


def _check_search(spec: SweepSpec, source: str) -> None:
    """Each searched field is a numeric training field set nowhere else, with one distribution whose
    values are valid for it; the search's seeds are none of the comparison's."""
    space = spec.search.space()
    if not space:
        raise UserError(f"{source}: search: no field to search (one of {', '.join(SEARCHABLE)}), e.g. lr: {{loguniform: [1.0e-5, 1.0e-2]}}")
    for name, dist in space.items():
        where = f"search.{name}"
        if name not in SEARCHABLE:
            raise UserError(f"{source}: {where}: unknown field (a search tunes one of {', '.join(SEARCHABLE)})")
        if name in spec.axes():
            raise UserError(f"{source}: {where}: also a grid axis; search it or list it, not both")
        if name in spec.train:
            raise UserError(f"{source}: {where}: also set in train.{name}; set it in one place")
        if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
            raise UserError(f"{source}: {where}: give one distribution, e.g. {{loguniform: [low, high]}} ({', '.join(DISTRIBUTIONS)})")
        (kind, values), = dist.items()
        where = f"{where}.{kind}"
        if not isinstance(values, list) or not values or (kind != "choice" and len(values) != 2):
            raise UserError(f"{source}: {where}: give " + ("a list of values" if kind == "choice" else "[low, high]"))
        for i, value in enumerate(values):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise UserError(f"{source}: {where}[{i}]: {value!r} is not a number")
            _validate_field(source, f"{where}[{i}]", name, value)
        if kind == "loguniform" and values[0] <= 0:
            raise UserError(f"{source}: {where}: low {values[0]} must be above 0 on a log scale")
        if kind != "choice" and values[0] >= values[1]:
            raise UserError(f"{source}: {where}: low {values[0]} is not below high {values[1]}")
    for i, seed in enumerate(spec.search.seeds):  # seeds of trials, as the grid's are
        _validate_field(source, f"search.seeds[{i}]", "seed", seed)
    comparison = set(range(spec.seeds.max)) if spec.seeds else {c.get("seed", 0) for c in spec.cells()}
    shared = sorted(comparison & set(spec.search.seeds))
    if shared:
        raise UserError(f"{source}: search.seeds: {shared} also seed the comparison; a search's seeds must be its own")


def _validate_field(source: str, where: str, name: str, value: Any) -> None:
    """`value` as the field takes it, never coerced: a "1e-3" (YAML reads it as text) or a 1 for
    a yes/no is refused here, not turned into another value in some places and not in others."""
    try:
        TrialConfig.__pydantic_validator__.validate_assignment(TrialConfig.model_construct(), name, value, strict=True)
    except ValidationError as e:
        msg = e.errors()[0]["msg"].removeprefix("Value error, ")
        if isinstance(value, str) and _number(value):
            msg += f" ({value!r} is text: YAML reads a number without a decimal point, like 1e-3, as text; write 1.0e-3)"
        raise UserError(f"{source}: {where}: {msg}") from None


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
