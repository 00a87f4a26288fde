"""A user's own code, named by a sweep file's `plugins:` (a file path, relative to the sweep file,
or an importable module): imported on the driver before the file is checked (so its models are
names the grid may use) and in every trial before it builds its model. Each is imported once per
process: trial processes are reused, and a second import would register its models twice.
Free of torch and Ray (a plugin may import them itself)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path

from se_train.errors import UserError, first_line

_loaded: dict[str, str] = {}  # entry -> the module name it was imported as


def resolve(entries: list[str], base: Path) -> list[str]:
    """File paths made absolute (a relative one is relative to the sweep file's folder); modules
    stay as named."""
    return [str((base / e).resolve()) if _is_file(e) else e for e in entries]


def load(entries: list[str], where: str = "plugins") -> None:
    """Import each entry once in this process; an entry that is missing or fails to import is
    one line naming it and its error's own first line."""
    for i, entry in enumerate(entries):
        if entry in _loaded:
            continue
        if _is_file(entry) and not Path(entry).is_file():
            raise UserError(f"{where}[{i}]: {entry}: no such file")
        try:
            _loaded[entry] = _import(entry)
        except Exception as e:  # noqa: BLE001 - whatever a user's module raises as it imports
            raise UserError(f"{where}[{i}]: {entry}: cannot be imported ({type(e).__name__}: {first_line(e)})") from None


def _import(entry: str) -> str:
    """Import a plugin file under a name of its own (two plugins may share a file name), or a module."""
    if not _is_file(entry):
        importlib.import_module(entry)
        return entry
    name = f"se_sweep_plugin_{hashlib.sha256(entry.encode()).hexdigest()[:12]}_{Path(entry).stem}"
    spec = importlib.util.spec_from_file_location(name, entry)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return name


def digest(entry: str) -> str | None:
    """The sha256 of a plugin file's content (a module: of its source file), to see it changed."""
    path = Path(entry) if _is_file(entry) else _module_file(entry)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path and path.is_file() else None


def _module_file(entry: str) -> Path | None:
    spec = importlib.util.find_spec(entry)
    return Path(spec.origin) if spec and spec.origin else None


def _is_file(entry: str) -> bool:
    return entry.endswith(".py") or "/" in entry
