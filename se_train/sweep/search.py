"""A fair comparison: tune each grid cell's training fields on valid, then compare the cells over
seeds, each at its own best (`search:` in the sweep file).

Two stages in one experiment folder:
- the search (`search/`, a Tune experiment of its own): every cell of the grid at each of the
  `samples` settings drawn from the search's distributions (the same settings for every cell), on
  the search's seeds, for its epochs, without reading the test split;
- the choice (`chosen.json`): per cell, the setting with the best valid accuracy (the best epoch
  of a try, averaged over the search seeds); a setting with a diverged or failed try loses; ties go
  to the smaller value of the first searched field (for lr, the more cautious one);
- the comparison (the experiment folder itself, as a sweep without search): every cell at its
  chosen setting, on the grid's seeds, for the sweep's epochs, its final models read the test split.
No early stopping in the search: ASHA would compare tries across cells.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from se_train import cell, storage
from se_train import experiment as layout
from se_train.config import SweepSpec
from se_train.trial_status import run_status
from se_train.result import Key, Outcome, TuneStatus

if TYPE_CHECKING:
    from ray import tune  # the plan and --dry-run read this module without Ray

SEARCH, CHOSEN = layout.SEARCH_DIR, layout.CHOSEN_FILE
PROTOCOL = (
    "Each cell's {fields} was chosen on the valid split by a search ({samples} settings per cell, the same for every cell, "
    "{epochs} epoch(s) each, seeds {seeds}; best valid accuracy over a try's epochs, mean over the search seeds; a setting with "
    "a diverged try loses; ties go to the smaller value). The comparison then ran every cell at its own chosen setting on "
    "seeds the search never used; the test split was read only by the comparison's final models."
)


def settings(spec: SweepSpec) -> list[dict[str, float]]:
    """The settings every cell tries: `samples` draws from the search's distributions, a Latin
    hypercube (scipy's qmc) seeded by the first search seed. Each field's range is cut into
    `samples` equal strata (in log space for loguniform) with one draw in each, so 8 draws of lr
    cover its range evenly; 8 independent draws here left a 10x gap and two values 0.06% apart.
    The same sweep file always draws the same settings."""
    from scipy.stats import qmc  # a second to import: only for a sweep that searches

    space = spec.search.space()
    unit = qmc.LatinHypercube(d=len(space), seed=spec.search.seeds[0]).random(spec.search.samples)
    tried = []
    for row in unit:
        setting = {}
        for u, (name, dist) in zip(row, space.items()):
            (kind, values), = dist.items()
            if kind == "loguniform":
                setting[name] = float(values[0] * (values[1] / values[0]) ** u)
            elif kind == "uniform":
                setting[name] = float(values[0] + u * (values[1] - values[0]))
            else:
                setting[name] = float(values[int(u * len(values))])
        tried.append(setting)
    unique = list({json.dumps(t, sort_keys=True): t for t in tried}.values())  # a choice can draw a value twice
    return sorted(unique, key=lambda t: list(t.values()))


def search_spec(spec: SweepSpec) -> SweepSpec:
    """The search stage as a sweep of its own: each grid at each setting, on the search's seeds
    and epochs, never reading the test split."""
    search = spec.search
    grids = []
    for grid in spec.grids():
        for setting in settings(spec):
            stage = {**grid, "seed": search.seeds, **{k: [v] for k, v in setting.items()}}
            if "epochs" in grid:
                stage["epochs"] = [search.epochs]
            grids.append(stage)
    train = {**spec.fixed(), "test_split": False}
    if "epochs" not in spec.axes():
        train["epochs"] = search.epochs
    return _stage(spec, grid=grids, train=train, stopping={}, search=None, seeds=None)


def cell_of(config: dict[str, Any], spec: SweepSpec) -> dict[str, Any]:
    """A trial's grid cell, without its seed and the searched fields: what a search chooses for."""
    searched = spec.search.space()
    return {a: config.get(a) for a in spec.axes() if a not in ("seed", "epochs", *searched)}


def choose(experiment: str, spec: SweepSpec, tries: tune.ResultGrid) -> layout.Chosen:
    """Each cell's best setting from the search stage's `tries` (Tune's results of every try,
    restored ones included), written to chosen.json with every try's valid accuracy."""
    import pandas as pd  # half a second to import: the plan and --dry-run read this module without it

    fields = list(spec.search.space())
    scored: dict[str, list[dict[str, Any]]] = {}
    for result in tries:
        reported = result.metrics_dataframe.to_dict("records") if result.metrics_dataframe is not None else []
        ok = [r[Key.VALID_ACC] for r in reported if not r.get(Key.DIVERGED)]
        outcome = run_status(TuneStatus.ERROR if result.error else TuneStatus.TERMINATED, result.config, reported)
        key = cell.key(cell_of(result.config, spec))
        scored.setdefault(key, []).append({**{f: result.config[f] for f in fields}, "acc": max(ok, default=math.nan), "outcome": outcome})
    cells = []
    for this in _cells(spec):
        mine = pd.DataFrame(scored.get(cell.key(this), []), columns=[*fields, "acc", "outcome"])
        tries_of_cell = []
        for values, group in mine.groupby(fields, sort=True):
            values = values if isinstance(values, tuple) else (values,)
            accuracy = float(group["acc"].mean())
            tries_of_cell.append({**dict(zip(fields, map(float, values))), Key.VALID_ACC: None if math.isnan(accuracy) else accuracy,
                                  "seeds": len(group), "statuses": sorted(set(group["outcome"])),
                                  "eligible": bool((group["outcome"] == Outcome.COMPLETED).all())})
        best = pick(tries_of_cell)
        cells.append(layout.CellChoice(cell=this, chosen={f: best[f] for f in fields} if best else None,
                                       tries=[layout.Try(**t) for t in tries_of_cell]))
    record = layout.Chosen(protocol=PROTOCOL.format(fields=", ".join(fields), samples=spec.search.samples, epochs=spec.search.epochs,
                                                    seeds=spec.search.seeds), fields=fields, space=spec.search.space(), cells=cells)
    storage.write_text(storage.join(experiment, CHOSEN), record.model_dump_json(indent=2))
    return record


def pick(tries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The try with the best valid accuracy among those whose every seed completed; among equals,
    the first (tries come sorted by their values, so the smaller one). None if none is eligible."""
    eligible = [t for t in tries if t["eligible"] and t[Key.VALID_ACC] is not None]
    return max(eligible, key=lambda t: t[Key.VALID_ACC], default=None)


def _cells(spec: SweepSpec) -> list[dict[str, Any]]:
    return list({cell.key(c): c for c in (cell_of(cfg, spec) for cfg in spec.cells())}.values())


def comparison_spec(spec: SweepSpec, chosen: layout.Chosen) -> SweepSpec:
    """The comparison stage: every cell of the grid at its chosen setting (a cell whose every try
    failed is left out, and chosen.json says so), on the grid's seeds and epochs."""
    picks = {cell.key(c.cell): c.chosen for c in chosen.cells}
    grids = []
    for cfg in spec.cells():
        pick = picks.get(cell.key(cell_of(cfg, spec)))
        if pick:
            grids.append({k: [v] for k, v in {**cfg, **pick}.items()})
    return _stage(spec, grid=grids, train={}, search=None)


def _stage(spec: SweepSpec, **changes: Any) -> SweepSpec:
    """`spec` with `changes` (as a sweep file writes them), checked as a sweep file is."""
    return SweepSpec.model_validate({**spec.model_dump(), **changes})
