"""Reading a sweep file: YAML that refuses a key given twice, then `SweepSpec` (the one validation
layer, `config.py`), with every error of the file at once, each naming the file and the field
(`se_train.errors.UserError`, one line per error). Free of torch and Ray."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from se_train.blocks import Asha, Compare, Distribution, Resources, Search, SEARCHABLE, Seeds, Stopping, Tracking

from se_train.config import SweepSpec

from se_train.sweep_rules import MAX_CELLS

from se_train.trial_config import TrialConfig, own_options
from se_train import plugins
from se_train.errors import UserError
from se_train.validation import invalid


def _hint(err: dict) -> str | None:
    """What a sweep file's author needs beyond pydantic's words."""
    said = _said(err)
    if err["type"] == "extra_forbidden" and isinstance(err["loc"][-1], str):
        close = difflib.get_close_matches(err["loc"][-1], _fields_beside(err["loc"]), n=1, cutoff=0.7)
        said = (said or "unknown field") + (f"; did you mean {close[0]!r}?" if close else "")
    return said


def _fields_beside(loc: tuple) -> list[str]:
    """The fields a sweep file may write where `loc`'s last part is: a misspelling's candidates."""
    path = tuple(p for p in loc[:-1] if isinstance(p, str) and "<" not in p and "[" not in p)
    blocks = {(): SweepSpec, ("resources",): Resources, ("stopping",): Stopping, ("stopping", "asha"): Asha,
              ("tracking",): Tracking, ("search",): Search, ("seeds",): Seeds, ("compare",): Compare}
    if path[:1] in (("grid",), ("train",)):
        return [*TrialConfig.model_fields, *own_options()]
    return list(blocks[path].model_fields) if path in blocks else []


def _said(err: dict) -> str | None:
    loc, kind = err["loc"], err["type"]
    in_grid = loc[:1] == ("grid",) and len([p for p in loc if isinstance(p, str) and "<" not in p]) == 2
    if in_grid and kind == "extra_forbidden":
        return f"unknown axis (one of {', '.join([*TrialConfig.model_fields, *own_options()])})"
    if in_grid and kind == "missing":
        return "required axis is missing"
    if in_grid and kind == "list_type":
        return "give a list, e.g. [0]"
    if in_grid and kind == "too_short":
        return "empty list"
    if loc[:1] == ("search",) and len(loc) == 2 and kind == "extra_forbidden":
        return f"unknown field (a search tunes one of {', '.join(SEARCHABLE)})"
    if loc[:1] == ("search",) and len(loc) == 3 and kind == "extra_forbidden":
        return f"unknown distribution (one of {', '.join(Distribution.model_fields)})"
    if loc[:1] == ("search",) and loc[-1] in ("loguniform", "uniform") and kind in ("too_short", "too_long"):
        return "give [low, high]"
    return None


# Bounded work before a grid is counted: YAML parses ~1 MiB a second here, and a file past this
# holds far more than MAX_CELLS cells' worth of values.
MAX_SWEEP_BYTES = 2**20


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """YAML's safe loader, refusing a key given twice in one mapping (plain YAML keeps the last).
    libyaml's parser where PyYAML has it (its wheels do): the pure-Python scanner spends 20 s on a
    5 MB file, libyaml under one."""

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
        size = path.stat().st_size
        if size > MAX_SWEEP_BYTES and path.is_file():
            raise UserError(f"{path}: {size / 2**20:.1f} MiB, over the {MAX_SWEEP_BYTES // 2**20} MiB a sweep file may be (a grid of "
                            f"{MAX_CELLS:,} cells, the most allowed, fits in a tenth of that): a pasted list?")
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
    entries = raw.get("plugins")
    if isinstance(entries, list) and all(isinstance(e, str) for e in entries):  # else the model says what is wrong
        # Imported before the file is checked: their models are names the grid may use.
        raw = {**raw, "plugins": plugins.resolve(entries, Path(source).parent)}
        plugins.load(raw["plugins"], f"{source}: plugins")
    try:
        return SweepSpec.model_validate(raw)
    except ValidationError as e:
        raise invalid(source, e, hint=_hint) from None
