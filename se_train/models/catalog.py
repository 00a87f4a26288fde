"""The one model registry, open to users: `register_model` adds a model function, `list_models`
names them, `registry.build_model` builds one. Free of torch, so checking a sweep file, `status`
and `report` start without it: a built-in model registers by the place of its function
("module:name"), imported when a trial first builds it; a user's plugin registers the function
itself (`plugins`).

A model function is called with the trial's `num_classes`, `input_shape` (channels, height,
width), `act_layer` (the activation's module class) and `se` (add SE blocks), and its own keyword
arguments, which are its options: a sweep file sets them as trial fields (se_reduction, stem, ...).
It says which activations it supports and whether it takes SE, so the grid refuses the rest in one
line before Ray.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import Any, Callable

from se_train.errors import UserError

ACTIVATION_NAMES = ("relu", "selu", "study_selu")
GIVEN = ("num_classes", "input_shape", "act_layer", "se")  # what every model function is given by the data and the grid


@dataclass(frozen=True)
class Model:
    name: str
    builder: Callable[..., Any] | str  # the function, or "module:name" imported when first built
    options: tuple[str, ...]  # its keyword arguments beyond GIVEN
    activations: tuple[str, ...]
    se: bool  # whether it can add SE blocks

    def build(self) -> Callable[..., Any]:
        if callable(self.builder):
            return self.builder
        module, _, name = self.builder.partition(":")
        return getattr(importlib.import_module(module), name)


_MODELS: dict[str, Model] = {}


def register_model(fn: Callable | None = None, *, name: str | None = None, activations: tuple[str, ...] = ACTIVATION_NAMES,
                   se: bool = True, options: tuple[str, ...] | None = None):
    """Add a model function to the registry, as a decorator (`@register_model`, or
    `@register_model(name="cbam_cnn", activations=("relu",))`). Its options are its keyword
    arguments beyond GIVEN, unless `options` names them (a built-in registered by its place)."""

    def add(builder: Callable | str) -> Callable | str:
        key = name or builder.__name__
        if key in _MODELS and _code(_MODELS[key].builder) != _code(builder):  # the same code from a copy of its file is no clash
            raise UserError(f"model {key!r} is registered twice: by {_where(_MODELS[key].builder)} and by {_where(builder)}; rename one")
        if unknown := sorted(set(activations) - set(ACTIVATION_NAMES)):
            raise UserError(f"model {key!r}: activations {unknown} are not one of {', '.join(ACTIVATION_NAMES)}")
        taken = options if options is not None else tuple(p for p in inspect.signature(builder).parameters if p not in GIVEN)
        _MODELS[key] = Model(key, builder, tuple(taken), tuple(activations), se)
        return builder

    return add(fn) if fn is not None else add


def _code(builder: Callable | str) -> str:
    if isinstance(builder, str):
        return builder
    try:
        return f"{builder.__qualname__}\n{inspect.getsource(builder)}"
    except (OSError, TypeError):  # no source to read (built in C, or made at run time)
        return repr(builder)


def _where(builder: Callable | str) -> str:
    return builder if isinstance(builder, str) else f"{builder.__module__}.{builder.__qualname__}"


# The built-ins: each model keeps its own defaults (se_reduction: the study's r = 4 on the
# SimpleCNN, 16 in every ResNet block); an option given as None takes the model's default.
# tests/test_models.py checks these options against the functions' signatures.
register_model("se_train.models.simple_cnn:SimpleCNN", name="simple_cnn", options=("se_reduction",))
register_model("se_train.models.resnet:resnet50", name="resnet50", options=("se_reduction", "stem", "head", "zero_init_last_bn"))


def list_models() -> list[Model]:
    """Every registered model, built-in ones first, in registration order."""
    return list(_MODELS.values())


def model_names() -> list[str]:
    return list(_MODELS)


def get_model(name: str) -> Model:
    try:
        return _MODELS[name]
    except KeyError:
        raise UserError(f"model {name!r} is not one of {', '.join(_MODELS)}") from None


def option_names() -> set[str]:
    """Every keyword some registered model takes as an option."""
    return {p for model in _MODELS.values() for p in model.options}


def options_taken(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """`options` for model `name` without those that are None (the model's default); a UserError
    names an option the model does not take. Checked by name, not by calling the function, so a
    sweep is checked before it starts and a TypeError inside a model stays the bug it is."""
    model = get_model(name)
    options = {k: v for k, v in options.items() if v is not None}
    if unknown := sorted(set(options) - set(model.options)):
        raise UserError(f"model {name!r} takes no option {unknown[0]!r} (it takes {', '.join(model.options) or 'none'})")
    return options
