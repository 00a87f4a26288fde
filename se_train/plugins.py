"""A user's own code, named by a sweep file's `plugins:` (a file path, relative to the sweep file,
or an importable module): imported on the driver before the file is checked (so its models are
names the grid may use) and in every trial before it builds its model. Each is imported once per
process: trial processes are reused, and a second import would register its models twice.

A plugin file is the module named by its file name (my_models.py: `my_models`), on the driver and
in every trial, so a plugin may import one listed before it. Trials get their plugins through
Ray's `runtime_env` (`py_modules`: each file, and the package of each module not installed
in site-packages), so a cluster's worker machines need nothing but se-sweep itself.
Free of torch and Ray (a plugin may import them itself)."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
import sysconfig
from pathlib import Path

from se_train.errors import UserError, first_line
from se_train.models.catalog import forget_models, model_names
from se_train.trial_config import own_options

_loaded: dict[str, str] = {}  # entry -> the module name it was imported as


def resolve(entries: list[str], base: Path) -> list[str]:
    """File paths made absolute (a relative one is relative to the sweep file's folder); modules
    stay as named."""
    return [str((base / e).resolve()) if _is_file(e) else e for e in entries]


def load(entries: list[str], where: str = "plugins") -> None:
    """Import each entry once in this process; an entry that is missing, fails to import, or is
    named as another module is one line naming it and its error's own first line."""
    for i, entry in enumerate(entries):
        if entry in _loaded:
            continue
        if _is_file(entry):
            _check_file(entry, entries[:i], f"{where}[{i}]")
        before = set(model_names())
        try:
            name = _import(entry)
        except Exception as e:  # noqa: BLE001 - whatever a user's module raises as it imports
            hint = ""
            if isinstance(e, ModuleNotFoundError) and _is_file(entry) and (Path(entry).parent / f"{e.name}.py").is_file():
                hint = f"; {e.name}.py beside it is a plugin too: list it under plugins before this one, so trials get it"
            raise UserError(f"{where}[{i}]: {entry}: cannot be imported ({type(e).__name__}: {first_line(e)}){hint}") from None
        try:
            own_options()  # its models' own options typed, one type per name: refused as they register
        except UserError as e:
            # Undone as a failed import is: neither its models nor its module left to fail every later check.
            forget_models(set(model_names()) - before)
            sys.modules.pop(name, None)
            raise UserError(f"{where}[{i}]: {entry}: {e}") from None
        _loaded[entry] = name


def in_trial(entries: list[str]) -> list[str]:
    """What a trial imports: each file by its module name (`py_modules` put it on the path), each
    module as named."""
    return [_module_name(e) if _is_file(e) else e for e in entries]


def py_modules(entries: list[str]) -> list[str]:
    """The runtime_env's `py_modules` that ship `entries` to every trial: each file, and the
    top-level package (or single-file module) of each module that is not installed in
    site-packages, as a cluster's image installs se-sweep and torch."""
    shipped = []
    for entry in entries:
        if _is_file(entry):
            shipped.append(entry)
            continue
        top = entry.partition(".")[0]
        spec = _spec(top)
        if spec and spec.origin is None and len(folders := list(spec.submodule_search_locations or [])) > 1:
            raise UserError(f"plugins: {entry}: the namespace package {top!r} spans {len(folders)} folders "
                            f"({', '.join(folders)}); a trial gets one: give {folders[0]} an __init__.py")
        if (where := _source_of(top)) and not _installed(where):
            shipped.append(str(where))
    return list(dict.fromkeys(shipped))


def _check_file(entry: str, before: list[str], where: str) -> None:
    """A plugin file exists, and its module name is no other module's: a trial imports it by that
    name, and the first of two modules of one name would win there."""
    path, name = Path(entry), _module_name(entry)
    if not path.is_file():
        raise UserError(f"{where}: {entry}: no such file")
    if taken := next((e for e in before if _is_file(e) and _module_name(e) == name), None):
        raise UserError(f"{where}: {entry}: has the file name of plugin {taken}; a trial imports each by its file name: rename one")
    # (a plugin of another sweep read in this process, e.g. by a study report, may have the name)
    if name not in _loaded.values() and (other := _source_of(name)) and other.resolve() != path.resolve():
        raise UserError(f"{where}: {entry}: its name {name!r} is also the module {other}; rename the file")


def _import(entry: str) -> str:
    """Import a plugin file as the module named by its file name, or a module."""
    if not _is_file(entry):
        importlib.import_module(entry)
        return entry
    name = _module_name(entry)
    spec = importlib.util.spec_from_file_location(name, entry)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return name


def _source_of(name: str, folder: bool = True) -> Path | None:
    """Where module `name` would be imported from: its file, or with `folder` a package's folder."""
    spec = _spec(name)
    if spec is None or spec.origin in ("built-in", "frozen"):
        return None
    locations = list(spec.submodule_search_locations or []) if folder else []
    if len(locations) == 1:
        return Path(locations[0])
    return Path(spec.origin) if spec.origin else None  # (a namespace package has no origin)


def _spec(name: str):
    try:
        return importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None


def _installed(path: Path) -> bool:
    roots = {sysconfig.get_paths()[key] for key in ("purelib", "platlib", "stdlib", "platstdlib")}
    return any(path.resolve().is_relative_to(Path(root).resolve()) for root in roots)


def _module_name(entry: str) -> str:
    return Path(entry).stem


def digest(entry: str) -> str | None:
    """The sha256 of a plugin file's content (a module: of its source file), to see it changed."""
    path = Path(entry) if _is_file(entry) else _source_of(entry, folder=False)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path and path.is_file() else None


def _is_file(entry: str) -> bool:
    return entry.endswith(".py") or "/" in entry
