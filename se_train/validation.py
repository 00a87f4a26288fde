"""The one validation layer's shared parts: pydantic in strict mode for every block a user writes
(a sweep file, a manifest, a sweep.json), rules across fields raised together as one
`ValidationError`, and one helper that turns such an error into lines naming the file and field.
Free of torch and Ray, so a bad file is refused before either is imported."""

from __future__ import annotations

import re
from typing import Annotated, Any, Callable, get_args

from pydantic import AfterValidator, BaseModel, ConfigDict, PrivateAttr, TypeAdapter, ValidationError, ValidationInfo, model_serializer, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, core_schema

from se_train.errors import UserError

# Nothing is coerced: a "1e-3" (YAML reads it as text) is not 0.001, a true is not 1.0.
STRICT = ConfigDict(extra="forbid", strict=True, protected_namespaces=())

Loc = tuple[str | int, ...]

PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]*")  # no separator, no leading dot: never a path


def _plain_name(value: str) -> str:
    if not PLAIN_NAME.fullmatch(value):
        raise ValueError(f"{value!r} is not a plain name (letters, digits, _ . -; not starting with a dot)")
    return value


PlainName = Annotated[str, AfterValidator(_plain_name)]  # a dataset's, a sweep's: a folder's name

# The validation context of a sweep.json read where its plugins cannot be imported (a report or
# `status` on another machine): the sweep was checked as it started, and reading its results
# builds no model, so its plugins' models and their options are taken as it recorded them.
AS_RECORDED = {"plugin models": "as recorded"}


def as_recorded(info: ValidationInfo) -> bool:
    return info.context == AS_RECORDED


class Problems:
    """Rule violations found across fields, each at its own place, raised together so a file's
    every mistake comes in one run (`raise_any` in a model validator: pydantic puts each at its
    location below the model's own)."""

    def __init__(self) -> None:
        self.found: list[InitErrorDetails] = []

    def add(self, loc: Loc, message: str, value: Any = None) -> None:
        self.found.append(InitErrorDetails(type=_custom("rule", message), loc=loc, input=value))

    def unknown(self, loc: Loc, value: Any) -> None:
        self.found.append(InitErrorDetails(type="extra_forbidden", loc=loc, input=value))

    def extend(self, prefix: Loc, error: ValidationError) -> None:
        """`error`'s every error, each below `prefix`, in pydantic's own words."""
        for err in error.errors():
            kind = err["type"] if err["type"] in _PYDANTIC_ERRORS else _custom(err["type"], err["msg"])
            self.found.append(InitErrorDetails(type=kind, loc=(*prefix, *err["loc"]), input=err["input"], **({"ctx": err["ctx"]} if "ctx" in err else {})))

    def raise_any(self, title: str) -> None:
        if self.found:
            raise ValidationError.from_exception_data(title, self.found)


_PYDANTIC_ERRORS = set(get_args(core_schema.ErrorType))


def _custom(kind: str, message: str) -> PydanticCustomError:
    # the message is pydantic's template: braces would be read as placeholders
    return PydanticCustomError(kind, message.replace("{", "{{").replace("}", "}}"))


def extras_checked(types: Callable[[], dict[str, Any]]) -> Callable:
    """A wrap model validator for a block that takes extra fields (`extra="allow"`): each extra
    must be one of `types()`, asked at each check (a plugin adds them), and is checked as its type
    in strict mode, as a declared field is; any other is an unknown field (`AS_RECORDED`: each is
    kept as recorded). Every problem of the block comes together."""

    def check(cls, data: Any, handler, info: ValidationInfo):
        if not isinstance(data, dict) or as_recorded(info):
            return handler(data)
        kinds, problems, values = types(), Problems(), {}
        for name, value in data.items():
            if name in cls.model_fields:
                continue
            if name not in kinds:
                problems.unknown((name,), value)
                continue
            try:
                values[name] = TypeAdapter(kinds[name], config=ConfigDict(strict=True)).validate_python(value)
            except ValidationError as e:
                problems.extend((name,), e)
        try:
            block = handler(data)
        except ValidationError as e:
            problems.extend((), e)
        problems.raise_any(cls.__name__)
        block.__pydantic_extra__.update(values)
        return block

    return check


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
            # YAML reads 1e-3 (no decimal point) as text; "32" is text only for its quotes
            why = "write it without quotes" if value.strip().lstrip("+-").isdigit() else \
                "YAML reads a number without a decimal point, like 1e-3, as text; write 1.0e-3"
            message += f" ({value!r} is text: {why})"
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


class Given(BaseModel):
    """A block of which only the fields given count, in the file's order: a grid's axes, the train
    settings, a search's fields. It writes back (to sweep.json) exactly what was given."""

    model_config = STRICT
    _order: list[str] = PrivateAttr(default_factory=list)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_order(cls, data: Any, handler):
        block = handler(data)
        if isinstance(data, dict):
            block._order = list(data)
        return block

    @model_serializer(mode="wrap")
    def _given_only(self, handler) -> dict[str, Any]:
        dumped = handler(self)
        return {k: dumped[k] for k in self._order}

    def given(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self._order}
