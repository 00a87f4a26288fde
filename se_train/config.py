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
from typing import Annotated, Any, Union

from pydantic import BaseModel, Discriminator, Field, Tag, ValidationInfo, create_model, model_validator

from se_train import sweep_rules
from se_train.blocks import Compare, Resources, Search, Seeds, Stopping, Tracking
from se_train.blocks import Asha, Distribution  # noqa: F401 - a sweep's pickled searcher (tuner.pkl) from before blocks.py names them here
from se_train.trial_config import GRID_AXES_REQUIRED, OPEN, TrialConfig, _own_fields, field_type
from se_train.validation import STRICT, Given, PlainName, Problems, as_recorded


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
        sweep_rules.check(self, problems, recorded=as_recorded(info))
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


def sweep_schema() -> dict[str, Any]:
    """The sweep file's JSON Schema, from the models that check it (one source): what `se-sweep
    schema` prints and sweep.schema.json holds, for an editor's YAML language server. A model's
    own options are open fields of a grid and train (plugins add them), so those blocks allow more."""
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **SweepSpec.model_json_schema(), "title": "se-sweep sweep file"}
