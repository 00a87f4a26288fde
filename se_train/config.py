"""A sweep and its trials, typed: `SweepSpec` (what a sweep file says) and `TrialConfig` (the plain
dict a Tune trial receives), with each field's type and range. The one validation layer: every
block is a pydantic model in strict mode (nothing coerced), a grid axis and a `train` setting take
exactly the trial field's type, and the rules across fields are model validators that report every
mistake together (`validation.Problems`). Reading the YAML is `sweep_file.py`.

A sweep file has `name`, a `grid` (each axis a list of values), fixed `train` settings, and
`resources`, `stopping`, `storage` and `data_root`; `search:`, `seeds:` and `compare:` optionally.
Every grid cell plus the fixed settings is one `TrialConfig`. Free of torch and Ray.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from typing import Annotated, Any, Callable, Literal, Union

from pydantic import (AfterValidator, BaseModel, Discriminator, Field, PrivateAttr, Tag, TypeAdapter,
                      ValidationError, ValidationInfo, model_serializer, model_validator, create_model)

from se_train.errors import UserError
from se_train.cell import key as cell_key
from se_train.models.catalog import activation_names, get_model, model_names, model_only_options, options_taken, own_options
from se_train.result import Key
from se_train.validation import STRICT, Problems, as_recorded, extras_checked


PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")  # no separator, no leading dot: never a path
MAX_CELLS = 10_000  # a grid beyond this is a typo (a seed range pasted in), not a study


def _plain_name(value: str) -> str:
    if not PLAIN_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a plain name (letters, digits, _ . -; not starting with a dot)")
    return value


def _one_of(choices, plugins_add: bool = False) -> AfterValidator:
    """One of `choices()`; where `plugins_add` to them, any name a record holds `AS_RECORDED`."""
    def check(value: str, info: ValidationInfo) -> str:
        if value not in choices() and not (plugins_add and as_recorded(info)):
            raise ValueError(f"{value!r} is not one of {', '.join(choices())}")
        return value
    return AfterValidator(check)


PlainName = Annotated[str, AfterValidator(_plain_name)]
ModelName = Annotated[str, _one_of(model_names, plugins_add=True)]  # asked at each check: a plugin may register more
ActivationName = Annotated[str, _one_of(activation_names, plugins_add=True)]


# A model's own options (a plugin's `width: int = 64`, no trial field) are fields of a trial, a
# grid and train too, of their declared types: they are known only once the plugins are imported,
# so these blocks take them as extra fields, each checked as strictly as a declared field.
OPEN = {**STRICT, "extra": "allow"}


def _own_fields(field: Callable[[Any], Any] = lambda kind: kind):
    """The validator of a block's extra fields: each a model's own option, as `field` of its
    annotated type or None (the model's default)."""
    return model_validator(mode="wrap")(extras_checked(lambda: {n: field(kind | None) for n, kind in own_options().items()}))


class TrialConfig(BaseModel):
    """Everything one trial needs. Defaults are the 2017 study's (its constant.py); a model's own
    options (`catalog.own_options`) are its extra fields."""

    model_config = OPEN

    model: ModelName
    dataset: PlainName  # a folder under data_root
    activation: ActivationName
    se: bool
    seed: int = Field(0, ge=0, lt=2**32)
    se_reduction: int | None = Field(None, ge=1)  # None: the model's default (simple_cnn 4 = 16 hidden, resnet50 16)
    image_size: int | None = Field(None, ge=8, le=2048)  # None: the dataset's native size; else bicubic resize on the device
    # resnet50 only; None: the model's default (imagenet, standard, False)
    stem: Literal["imagenet", "cifar"] | None = None
    head: Literal["standard", "study"] | None = None
    zero_init_last_bn: bool | None = None
    epochs: int = Field(10, ge=1, le=100_000)
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

    own_options_checked = _own_fields()

    @classmethod
    def planned(cls, config: dict[str, Any], field: str) -> Any:
        """A trial config's `field`, or its default where the config leaves it out (a grid axis
        some grids do not set; a model's own option: None, the model's default)."""
        return config.get(field, cls.model_fields[field].default if field in cls.model_fields else None)

    def option_fields(self) -> dict[str, Any]:
        """The options of this trial's model, for `build_model`; None takes its default."""
        return {name: getattr(self, name, None) for name in get_model(self.model).options}


def field_type(name: str) -> Any:
    """TrialConfig field `name`'s type with its constraints, to type a value given elsewhere for
    it (a grid axis's values, a train setting, a search's bounds) exactly as a trial takes it."""
    field = TrialConfig.model_fields[name]
    return Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation


GRID_AXES_REQUIRED = ("model", "dataset", "activation", "se")
Seed = field_type("seed")


class Given(BaseModel):
    """A block of which only the fields given count, in the file's order: a grid's axes, the train
    settings, a search's fields. It writes back (to sweep.json) exactly what was given."""

    model_config = STRICT
    _order: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_order(cls, data: Any, handler):
        block = handler(data)
        if isinstance(data, dict):
            block._order = list(data)
        return block

    @model_serializer(mode="wrap")
    def _given_only(self, handler) -> dict[str, Any]:
        dumped = handler(self)
        return {k: dumped[k] for k in self._order}

    def given(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._order}


class _Axes(Given):
    @model_validator(mode="after")
    def _no_repeats(self) -> "_Axes":
        problems = Problems()
        for axis, values in self.given().items():
            seen = set()  # linear: a seed axis may list hundreds of thousands of values
            for i, value in enumerate(values):
                key = _equality_key(value)
                if key in seen:
                    problems.add((axis, i), f"{value!r} is listed twice; each trial would run twice", value)
                seen.add(key)
        problems.raise_any("Grid")
        return self


def _equality_key(value: Any) -> Any:
    """A set key that is equal where the values are (0.001 and 1.0e-3), for values a set cannot hold too."""
    try:
        hash(value)
        return value
    except TypeError:
        return json.dumps(value, sort_keys=True, default=str)


def _axis(kind: Any) -> Any:
    return Annotated[list[kind], Field(min_length=1)]


class _OpenAxes(_Axes):
    model_config = OPEN
    own_options_checked = _own_fields(_axis)


class _OpenSettings(Given):
    model_config = OPEN
    own_options_checked = _own_fields()


# One grid: each trial field may be an axis, its values of that field's type; four must be.
Grid = create_model(
    "Grid", __base__=_OpenAxes,
    **{name: (_axis(field_type(name)), ... if name in GRID_AXES_REQUIRED else None) for name in TrialConfig.model_fields},
)
# The fixed settings every cell shares.
Train = create_model("Train", __base__=_OpenSettings, **{name: (field_type(name), None) for name in TrialConfig.model_fields})


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
    method: Literal["sign-flip", "fixed-horizon", "anytime"] = "sign-flip"  # as rule.METHODS
    rho: float | None = Field(None, gt=0, le=100)  # anytime only: the t-mixture's prior precision; None: rule.RHO, measured

    @model_validator(mode="after")
    def _max(self) -> "Seeds":
        problems = Problems()
        if self.max < self.start:
            problems.add(("max",), f"{self.max} is below start ({self.start}); no cell runs more than max seeds", self.max)
        if self.rho is not None and self.method != "anytime":
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


def _one_or_many(grid: Any) -> str:
    return "<grids>" if isinstance(grid, list) else "<grid>"


class SweepSpec(BaseModel):
    model_config = STRICT

    name: PlainName  # the experiment's folder under storage
    data_root: str = "data"
    storage: str = "experiments"  # local folder or URI (s3://, gs://); multi-node runs need shared storage
    # One grid (axis -> values) or a list of grids whose cells are concatenated, for studies whose
    # datasets need different settings (MNIST at 28 px, CIFAR-10 at 128 px, ...).
    grid: Annotated[
        Union[Annotated[Grid, Tag("<grid>")], Annotated[list[Grid], Field(min_length=1), Tag("<grids>")]],
        Discriminator(_one_or_many),
    ]
    train: Train = Train()
    resources: Resources = Resources()
    stopping: Stopping = Stopping()
    tracking: Tracking = Tracking()
    search: Search | None = None  # none: every cell at the file's settings, as always
    seeds: Seeds | None = None  # none: the grid's seeds, fixed in advance
    compare: list[Compare] | None = None  # none: SE − no SE and SELU − ReLU, wherever their axes vary
    # Files (absolute once read: `sweep_file`) or modules of the user's own models, imported first.
    plugins: list[str] = []

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> "SweepSpec":
        """The rules across blocks, every one checked and every break reported together (those of
        the models, but for a record read `AS_RECORDED`)."""
        problems = Problems()
        if _size(self, problems):
            rules = (_one_place, _no_trial_twice, _seeds_rules, _search_rules, _compare_rules, _acts_somewhere)
            for rule in rules if as_recorded(info) else (*rules, _model_options):
                rule(self, problems)
        problems.raise_any("SweepSpec")
        return self

    def grids(self) -> list[dict[str, list[Any]]]:
        """Each grid's axes and values, in file order."""
        return [grid.given() for grid in (self.grid if isinstance(self.grid, list) else [self.grid])]

    def grid_loc(self, g: int) -> tuple:
        """Where grid `g` is in the file: grid, or grid[g] in a list of grids."""
        return ("grid", g) if isinstance(self.grid, list) else ("grid",)

    def fixed(self) -> dict[str, Any]:
        """The train block's settings, in file order."""
        return self.train.given()

    def axes(self) -> list[str]:
        """Every grid axis, in order of first appearance."""
        return list(dict.fromkeys(axis for grid in self.grids() for axis in grid))

    def cells(self) -> list[dict[str, Any]]:
        """Every grid cell merged with the fixed settings, in file order (last axis fastest).
        Each cell has every axis of every grid (a grid without an axis takes its default)."""
        return [cell for grid in self.grids() for cell in self.cells_of(grid)]

    def cells_of(self, grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
        defaults = {a: TrialConfig.planned({}, a) for a in self.axes() if a not in GRID_AXES_REQUIRED}
        return [{**defaults, **self.fixed(), **dict(zip(grid, values))} for values in itertools.product(*grid.values())]

    def trials(self) -> list[TrialConfig]:
        return [TrialConfig(**cell) for cell in self.cells()]

    def own_options(self) -> list[str]:
        """The models' own options (no trial field) this sweep sets, as axes or train settings."""
        return [name for name in dict.fromkeys([*self.axes(), *self.fixed()]) if name not in TrialConfig.model_fields]


def _size(spec: SweepSpec, problems: Problems) -> bool:
    """At most MAX_CELLS cells, else the rest is not checked (expanding them is the mistake)."""
    cells = sum(math.prod(len(v) for v in grid.values()) for grid in spec.grids())
    if cells <= MAX_CELLS:
        return True
    g, grid = max(enumerate(spec.grids()), key=lambda item: math.prod(len(v) for v in item[1].values()))
    axis = max(grid, key=lambda a: len(grid[a]))
    problems.add(spec.grid_loc(g) + (axis,), f"{cells:,} cells in all, more than {MAX_CELLS:,}; this axis has {len(grid[axis]):,} values: longer than meant?")
    return False


def _one_place(spec: SweepSpec, problems: Problems) -> None:
    for key in spec.fixed():
        if key in spec.axes():
            problems.add(("train", key), "also a grid axis; set it in one place")


def _no_trial_twice(spec: SweepSpec, problems: Problems) -> None:
    """A list of grids whose expansions share a cell would run it twice (one grid cannot: its
    axes hold no value twice)."""
    seen: dict[str, int] = {}
    for g, grid in enumerate(spec.grids()):
        for cell in spec.cells_of(grid):
            key = cell_key(cell)
            if seen.setdefault(key, g) != g:
                named = ", ".join(f"{a}={cell[a]}" for a in spec.axes() if a in cell)
                problems.add(spec.grid_loc(g), f"the trial {named} is also in grid[{seen[key]}]; it would run twice")
                return


def _seeds_rules(spec: SweepSpec, problems: Problems) -> None:
    """Seeds are the `seeds:` block's alone, and every trial runs to its planned end."""
    if not spec.seeds:
        return
    for g, grid in enumerate(spec.grids()):
        if "seed" in grid:
            problems.add(spec.grid_loc(g) + ("seed",), "the seeds: block chooses the seeds; drop grid.seed or seeds:")
    if "seed" in spec.fixed():
        problems.add(("train", "seed"), "the seeds: block chooses the seeds; drop train.seed or seeds:")
    if spec.seeds.metric == Key.TEST_ACC and spec.fixed().get("test_split") is False:
        problems.add(("seeds", "metric"), "test_acc needs the test split, which train.test_split: false leaves unread")
    if spec.stopping.asha:
        problems.add(("stopping", "asha"), f"a trial stopped early has no final {spec.seeds.metric} to pair; drop asha or seeds:")


def _search_rules(spec: SweepSpec, problems: Problems) -> None:
    """Each searched field is set nowhere else, and the search's seeds are none of the comparison's."""
    if not spec.search:
        return
    for name in spec.search.space():
        if name in spec.axes():
            problems.add(("search", name), "also a grid axis; search it or list it, not both")
        if name in spec.fixed():
            problems.add(("search", name), f"also set in train.{name}; set it in one place")
    comparison = set(range(spec.seeds.max)) if spec.seeds else {c.get("seed", 0) for c in spec.cells()}
    if shared := sorted(comparison & set(spec.search.seeds)):
        problems.add(("search", "seeds"), f"{shared} also seed the comparison; a search's seeds must be its own")


def _compare_rules(spec: SweepSpec, problems: Problems) -> None:
    """Each comparison names a grid axis and two of its values, of the grid's own types, and pairs
    at least two cells that differ only there."""
    if not spec.compare:
        return
    from se_train.progress import Comparison, effects_of  # numpy and scipy: only for a file that compares

    axes = [a for a in spec.axes() if a != "seed"]
    for i, c in enumerate(spec.compare):
        if c.axis not in axes:
            problems.add(("compare", i, "axis"), f"{c.axis!r} is not a grid axis (one of {', '.join(axes)})")
            continue
        values = list(dict.fromkeys(v for grid in spec.grids() for v in grid.get(c.axis, [])))
        sides = {"treated": c.treated, "control": c.control}
        # the grid's own type: a 1 is not true, and "1e-3" (text to YAML) is not 0.001
        wrong = [side for side, value in sides.items() if not any(type(value) is type(v) and value == v for v in values)]
        for side in wrong:
            problems.add(("compare", i, side), f"{sides[side]!r} is not a value of grid.{c.axis} ({', '.join(repr(v) for v in values)})")
        if wrong:
            continue
        if c.treated == c.control:
            problems.add(("compare", i), f"treated and control are both {c.treated!r}; compare two values")
        elif not effects_of(spec.cells(), spec.axes(), [Comparison(c.axis, c.treated, c.control)]):
            problems.add(("compare", i), f"pairs no cells: no cell at {c.axis}={c.treated!r} has a twin at {c.axis}={c.control!r} "
                                          "with every other axis the same")


# Trial fields that act only where another takes a value: each, when set, must act in some cell.
ACTS_WHERE = {
    "momentum": ("optimizer", "sgd"),
    "decay_rate": ("schedule", "exponential"),
    "decay_steps": ("schedule", "exponential"),
    "se_reduction": ("se", True),
}


def _acts_somewhere(spec: SweepSpec, problems: Problems) -> None:
    """A setting that acts in none of the cells it is set for is a mistake (adam has no momentum),
    not a choice: refused where it is written, saying where it would act."""
    where = [(("train",), spec.fixed(), spec.cells())] + [(spec.grid_loc(g), grid, spec.cells_of(grid)) for g, grid in enumerate(spec.grids())]
    for loc, given, cells in where:
        for name, (field, value) in ACTS_WHERE.items():
            if name in given and not any(TrialConfig.planned(c, field) == value for c in cells):
                said = str(value).lower() if isinstance(value, bool) else value  # as a sweep file writes it
                problems.add(loc + (name,), f"acts only where {field} is {said}, and no cell it is set for has that: "
                                            f"remove it, or set {field}: {said}")
    # (not the default: a record, which writes every field, reads back as it was written)
    if spec.resources.placement_strategy != Resources.model_fields["placement_strategy"].default and spec.resources.workers_per_trial == 1:
        problems.add(("resources", "placement_strategy"), "places a trial's workers over nodes, and each trial has one worker "
                                                          "(workers_per_trial: 1): remove it, or give trials more workers")


def _model_options(spec: SweepSpec, problems: Problems) -> None:
    """Each cell's options are its model's (simple_cnn has no stem) and set where it has no default,
    and its activation and SE ones its model supports; the first cell of each kind named."""
    said, model_only = set(), model_only_options()
    for i, cell in enumerate(spec.cells()):
        model = get_model(cell["model"])
        wrong = [] if cell["activation"] in model.supported() else [
            f"model {model.name!r} supports activations {', '.join(model.supported())}, not {cell['activation']!r}"]
        wrong += [] if model.se or not cell["se"] else [f"model {model.name!r} has no SE blocks: its cells take se: false only"]
        wrong += [f"model {model.name!r} needs option {name!r}: set it in train or as a grid axis"
                  for name in model.required if cell.get(name) is None]
        try:
            options_taken(cell["model"], {k: v for k, v in cell.items() if k in model_only})
        except UserError as e:
            wrong.append(str(e))
        for message in wrong:
            if message not in said:
                said.add(message)
                problems.add(("trial", i), message)


def sweep_schema() -> dict[str, Any]:
    """The sweep file's JSON Schema, from the models that check it (one source): what `se-sweep
    schema` prints and sweep.schema.json holds, for an editor's YAML language server. A model's
    own options are open fields of a grid and train (plugins add them), so those blocks allow more."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **SweepSpec.model_json_schema(), "title": "se-sweep sweep file"}
