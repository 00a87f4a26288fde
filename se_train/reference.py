"""The sweep file's reference, as markdown, from the pydantic models that check a sweep file
(`config.py`, `blocks.py`, `trial_config.py`): every block, field, type, default and bound, and the comment beside each field in
the source. The docs site's "Sweep file reference" page is this (`docs/hooks.py`), so the reference
is never written twice and cannot fall behind the models."""

from __future__ import annotations

import inspect
import re
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from se_train import blocks, config, trial_config

# The blocks in the order a sweep file has them, each with its place in the file.
BLOCKS: list[tuple[str, type[BaseModel]]] = [
    ("the file's top level", config.SweepSpec),
    ("a trial's fields: each a `grid:` axis (a list of values) or a `train:` setting (one value)", trial_config.TrialConfig),
    ("`resources:`", blocks.Resources),
    ("`stopping:`", blocks.Stopping),
    ("`stopping.asha:`", blocks.Asha),
    ("`tracking:`", blocks.Tracking),
    ("`search:`", blocks.Search),
    ("a `search:` field's distribution", blocks.Distribution),
    ("`seeds:`", blocks.Seeds),
    ("each of `compare:`", blocks.Compare),
]
_FIELD_COMMENT = re.compile(r"^\s+(\w+):[^#\n]*#\s*(.+)$")


def sweep_file_reference() -> str:
    parts = []
    for where, model in BLOCKS:
        doc = inspect.cleandoc(model.__doc__ or "")
        comments = _comments(model)
        rows = ["| field | type | default | bounds | what |", "|---|---|---|---|---|"]
        for name, info in model.model_fields.items():
            rows.append(f"| `{name}` | {_type(info.annotation)} | {_default(info)} | {_bounds(info)} | {comments.get(name, '')} |")
        parts += [f"## {where}", "", *([doc.replace("\n", " "), ""] if doc and model is not config.SweepSpec else []), *rows, ""]
    return "\n".join(parts)


def _comments(model: type[BaseModel]) -> dict[str, str]:
    """Each field's comment on its own line of the class's source."""
    try:
        source = inspect.getsource(model)
    except (OSError, TypeError):  # a model made by create_model has no source of its own
        return {}
    found, above = {}, []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# "))  # a comment over the field it explains
            continue
        field = re.match(r"^\s+(\w+):", line)
        beside = _FIELD_COMMENT.match(line)
        if field:
            found[field.group(1)] = " ".join([*above, beside.group(2) if beside else ""]).strip().replace("|", "\\|")
        above = []
    return {name: text for name, text in found.items() if text}


def _type(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{a}`" for a in args)
    if origin is typing.Annotated:
        return _type(args[0])
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " or ".join(_type(a) for a in args)
    if origin is list:
        return f"list of {_type(args[0])}" if args else "list"
    if annotation is type(None):
        return "none"
    return getattr(annotation, "__name__", str(annotation)).replace("|", "\\|")


def _default(info) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    value = info.default_factory() if info.default_factory else info.default
    if isinstance(value, BaseModel):
        return "its defaults"
    return f"`{value}`" if value not in (None, [], {}) else "none"


def _bounds(info) -> str:
    said = {"ge": "≥", "gt": ">", "le": "≤", "lt": "<", "min_length": "length ≥", "max_length": "length ≤"}
    return ", ".join(f"{word} {getattr(m, key)}" for m in info.metadata for key, word in said.items() if getattr(m, key, None) is not None)
