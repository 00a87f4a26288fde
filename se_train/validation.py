"""The one validation layer's shared parts: pydantic in strict mode for every block a user writes
(a sweep file, a manifest, a sweep.json), rules across fields raised together as one
`ValidationError`, and one helper that turns such an error into lines naming the file and field.
Free of torch and Ray, so a bad file is refused before either is imported."""

from __future__ import annotations

from typing import Any, Callable

from pydantic import ConfigDict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

from se_train.errors import UserError

# Nothing is coerced: a "1e-3" (YAML reads it as text) is not 0.001, a true is not 1.0.
STRICT = ConfigDict(extra="forbid", strict=True, protected_namespaces=())

Loc = tuple[str | int, ...]


class Problems:
    """Rule violations found across fields, each at its own place, raised together so a file's
    every mistake comes in one run (`raise_any` in a model validator: pydantic puts each at its
    location below the model's own)."""

    def __init__(self) -> None:
        self.found: list[InitErrorDetails] = []

    def add(self, loc: Loc, message: str, value: Any = None) -> None:
        # the message is pydantic's template: braces would be read as placeholders
        text = message.replace("{", "{{").replace("}", "}}")
        self.found.append(InitErrorDetails(type=PydanticCustomError("rule", text), loc=loc, input=value))

    def raise_any(self, title: str) -> None:
        if self.found:
            raise ValidationError.from_exception_data(title, self.found)


def where(loc: Loc) -> str:
    """A location as the file writes it: grid[1].lr[0], search.lr.loguniform, trial[3]. Union
    members and discriminator tags (names with < or [) are pydantic's, not the file's."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif "<" not in part and "[" not in part:
            text += f".{part}" if text else part
    return text


MESSAGES = {  # pydantic's wording where a file's author needs other words
    "extra_forbidden": "unknown field",
    "missing": "required field is missing",
}


def invalid(source: str, error: ValidationError, prefix: Loc = (), hint: Callable[[dict], str | None] = lambda err: None) -> UserError:
    """Every error of `error` as one line each, `source: field: message`. `hint` words an error
    for this kind of file where it can say more (e.g. what an unknown grid axis may be)."""
    lines = []
    for err in error.errors():
        loc = (*prefix, *err["loc"])
        message = hint(err) or MESSAGES.get(err["type"]) or err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        if isinstance(value, str) and err["type"].endswith("_type") and _number(value):
            message += f" ({value!r} is text: YAML reads a number without a decimal point, like 1e-3, as text; write 1.0e-3)"
        elif err["type"].endswith(("_type", "_parsing")) and not isinstance(value, (dict, list)):
            message += f", not {value!r}"
        lines.append(f"{source}: {where(loc)}: {message}" if where(loc) else f"{source}: {message}")
    return UserError("\n".join(dict.fromkeys(lines)))


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
