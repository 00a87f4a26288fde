"""The rules across a sweep file's blocks, each reporting every break it finds into one
`Problems` (a grid too big, a trial twice, seeds and a seed axis, a search and its fields, a
comparison that pairs nothing, a setting that acts nowhere, a model's options and activations):
every mistake of a file comes at once, before any work."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from se_train.blocks import Resources
from se_train.cell import key as cell_key
from se_train.errors import UserError
from se_train.models.catalog import get_model, options_taken
from se_train.result import Key
from se_train.trial_config import TrialConfig, model_only_options
from se_train.validation import Problems

if TYPE_CHECKING:
    from se_train.config import SweepSpec

MAX_CELLS = 10_000  # a grid beyond this is a typo (a seed range pasted in), not a study


def check(spec: SweepSpec, problems: Problems, recorded: bool) -> None:
    """Every rule, every break reported into `problems` (the models' rules too, but for a record
    read as recorded: its plugins may not be here)."""
    if _size(spec, problems):
        rules = (_one_place, _no_trial_twice, _seeds_rules, _search_rules, _compare_rules, _acts_somewhere)
        for rule in rules if recorded else (*rules, _model_options):
            rule(spec, problems)


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
