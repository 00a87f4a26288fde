"""Reading a sweep file and checking it whole before Ray starts: YAML that refuses a key given
twice, then every field, grid value, search and seeds block, with errors that name the file and
the field (`se_train.errors.UserError`, one line)."""

from __future__ import annotations

import itertools
import json
import math
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from se_train.config import GRID_AXES_REQUIRED, SEARCHABLE, SweepSpec, TrialConfig
from se_train.errors import UserError
from se_train.result import Key
from se_train.models.catalog import options_taken

MAX_CELLS = 10_000  # a grid beyond this is a typo (a seed range pasted in), not a study


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
    if spec.compare:
        _check_compare(spec, source)
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
    if spec.seeds.metric == Key.TEST_ACC and spec.train.get("test_split") is False:
        raise UserError(f"{source}: seeds.metric: test_acc needs the test split, which train.test_split: false leaves unread")
    if spec.stopping.asha:
        raise UserError(f"{source}: stopping.asha: a trial stopped early has no final {spec.seeds.metric} to pair; drop asha or seeds:")


def _check_compare(spec: SweepSpec, source: str) -> None:
    """Each comparison names a grid axis and two of its values, of the grid's own types, and pairs
    at least two cells that differ only there."""
    from se_train.decide import Comparison, effects_of  # numpy and scipy: only for a file that compares

    axes = [a for a in spec.axes() if a != "seed"]
    for i, c in enumerate(spec.compare):
        where = f"compare[{i}]"
        if c.axis not in axes:
            raise UserError(f"{source}: {where}.axis: {c.axis!r} is not a grid axis (one of {', '.join(axes)})")
        values = list(dict.fromkeys(v for grid in spec.grids() for v in grid.get(c.axis, [])))
        for side in ("treated", "control"):
            value = getattr(c, side)
            # the grid's own type: a 1 is not true, and "1e-3" (text to YAML) is not 0.001
            if not any(type(value) is type(v) and value == v for v in values):
                raise UserError(f"{source}: {where}.{side}: {value!r} is not a value of grid.{c.axis} ({', '.join(repr(v) for v in values)})")
        if c.treated == c.control:
            raise UserError(f"{source}: {where}: treated and control are both {c.treated!r}; compare two values")
        if not effects_of(spec.cells(), spec.axes(), [Comparison(c.axis, c.treated, c.control)]):
            raise UserError(f"{source}: {where}: pairs no cells: no cell at {c.axis}={c.treated!r} has a twin at {c.axis}={c.control!r} "
                            "with every other axis the same")


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
