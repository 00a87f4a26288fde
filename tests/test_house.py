"""The house rules a reviewer would otherwise check by hand: no import circle among se_train's
modules and no import back up a floor (imports inside functions counted, `if TYPE_CHECKING:` ones
not: they never run), no module over 250 lines, and the runs table's columns, verdicts and methods spelled only by their
owner, `result.py`."""

from __future__ import annotations

import ast
from pathlib import Path

from se_train.result import Method, Run, Verdict

PACKAGE = Path(__file__).resolve().parent.parent / "se_train"
MAX_LINES = 250


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """The se_train modules `path` imports anywhere in it, but under `if TYPE_CHECKING:`."""
    tree = ast.parse(path.read_text())
    typing_only = {id(node) for block in ast.walk(tree) if isinstance(block, ast.If) and getattr(block.test, "id", "") == "TYPE_CHECKING"
                   for statement in block.body for node in ast.walk(statement)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom) and node.module in modules:
            found |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module for a in node.names}
    return found


def test_no_module_of_se_train_imports_itself_back_through_others():
    modules = _modules()
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    circles, done = [], set()

    def walk(name: str, trail: list[str]) -> None:
        for other in sorted(graph[name]):
            if other in trail:
                circles.append(trail[trail.index(other):] + [other])
            elif other not in done:
                walk(other, trail + [other])
        done.add(name)

    for name in sorted(graph):
        if name not in done:
            walk(name, [name])
    assert not circles, "\n".join(" -> ".join(c) for c in circles)


# The floors of architecture.md's "one way down", bottom first: a module may import its own floor
# and those below. A module is on the floor of the longest name listed that it is or is inside;
# one listed nowhere is on the middle floor (the sweep file, the experiment's
# documents, the effect engine).
FLOORS = (
    ("se_train.errors", "se_train.storage", "se_train.cell", "se_train.result", "se_train.validation"),
    ("se_train.data", "se_train.models"),
    (),  # the middle floor
    ("se_train.train",),
    ("se_train.sweep", "se_train.report", "se_train.results"),  # results: the report's reader, public as se_train.load
    ("se_train.cli", "se_train.commands", "se_train.bench", "se_train"),
)
MIDDLE = 2


def _floor(module: str) -> int:
    listed = [(len(name), floor) for floor, names in enumerate(FLOORS) for name in names
              if module == name or (name != "se_train" and module.startswith(name + "."))]  # the package itself: its __init__ only
    return max(listed)[1] if listed else MIDDLE


def test_no_module_imports_from_a_floor_above_its_own():
    modules = _modules()
    up = [f"{name} (floor {_floor(name)}) imports {other} (floor {_floor(other)})"
          for name, path in sorted(modules.items()) for other in sorted(_imports(path, modules)) if _floor(other) > _floor(name)]
    assert not up, "\n".join(up)


def test_no_module_is_over_250_lines():
    long = {str(path.relative_to(PACKAGE.parent)): n for path in PACKAGE.rglob("*.py") if (n := len(path.read_text().splitlines())) > MAX_LINES}
    assert not long, long


# Ordinary words that other vocabularies use too (a CLI command, an MLflow tag, a sweep.json
# field, a storage error): as a runs-table column they are written `Run.X` all the same, but a
# literal one is not necessarily that column.
SHARED_WORDS = {Run.SWEEP, Run.EXPERIMENT, Run.STATUS, Run.ERROR}


def test_runs_table_columns_verdicts_and_methods_are_spelled_only_in_result_py():
    owned = {m.value: f"{type(m).__name__}.{m.name}" for vocabulary in (Run, Verdict, Method) for m in vocabulary if m not in SHARED_WORDS}
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "result.py":
            continue
        tree = ast.parse(path.read_text())
        docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                      if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and node.body and isinstance(node.body[0], ast.Expr)}
        found += [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.value!r} is {owned[node.value]}" for node in ast.walk(tree)
                  if isinstance(node, ast.Constant) and node.value in owned and id(node) not in docstrings]
    assert not found, "\n".join(found)
