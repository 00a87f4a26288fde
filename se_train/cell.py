"""A grid cell: the values its axes take. The one identity by which the searcher, the effect
engine, a search's choice and the report pair runs (`key`), and the one name every view prints
(`name`: the live view, `status`, the report's tables and figures, an MLflow run). On the bottom
floor: it imports nothing of se-sweep, so the engine and the views share it without a circle."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

NAMED = ("model", "dataset", "activation", "se", "seed")  # what every trial's name says


def key(values: Mapping[str, Any], axes: Sequence[str] | None = None) -> str:
    """The cell's identity: its value on each of `axes` but the seed (all its values, if no axes
    are given), as canonical JSON, so equal values give one key whatever their order."""
    kept = dict(values) if axes is None else {a: values.get(a) for a in axes if a != "seed"}
    return json.dumps(kept, sort_keys=True, default=str)


def name(config: Mapping[str, Any], extra: Sequence[str] = (), seed: bool = True) -> str:
    """The cell in a few words: model, dataset, activation, SE, seed (unless `seed` is False: a
    cell over its seeds); then each of the `extra` fields it has, e.g. "simple_cnn digits relu SE s1 lr=0.001"."""
    se = " SE" if config.get("se") else ""
    tail = "".join(f" {f}={config[f]:.3g}" if isinstance(config[f], float) else f" {f}={config[f]}" for f in extra if f in config)
    seeded = f" s{config.get('seed', 0)}" if seed else ""
    return f"{config['model']} {config['dataset']} {config['activation']}{se}{seeded}{tail}"


def varied(cells: Sequence[Mapping[str, Any]], axes: Sequence[str]) -> list[str]:
    """The axes beyond NAMED on which `cells` differ: what their names must add to tell them apart."""
    return [a for a in axes if a not in NAMED and len({json.dumps(c.get(a), default=str) for c in cells}) > 1]


def names(cells: Mapping[str, Mapping[str, Any]], axes: Sequence[str]) -> dict[str, str]:
    """Each cell's name over its seeds (by key), with the axes on which the cells differ."""
    extra = varied(list(cells.values()), axes)
    return {k: name(c, extra, seed=False) for k, c in cells.items()}
