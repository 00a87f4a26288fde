"""The registries of models and activations, open to users: `register_model` adds a model
function, `register_activation` an activation, `list_models` / `activation_names` name them,
`registry.build_model` builds one. Free of torch, so checking a sweep file, `status` and `report`
start without it: a built-in registers by its place ("module:name"), imported when a trial first
builds it; a user's plugin registers the function or class itself (`plugins`).

A model function is called with the trial's `num_classes`, `input_shape` (channels, height,
width), `act_layer` (the activation's module class) and `se` (add SE blocks), and its own keyword
arguments, which are its options: a sweep file sets each as a trial field, a grid axis or a train
setting. An option named as a trial field (se_reduction, image_size, epochs, ...) receives that
field; any other is the model's own, typed by its annotation (`width: int = 64`) exactly as the
trial's fields are. It says which activations it supports (by default every registered one) and
whether it takes SE, so the grid refuses the rest in one line before Ray.

An activation is an `nn.Module` class built with no arguments, with the initialisation it needs:
"he" (Kaiming normal, for ReLU-like units) or "lecun" (LeCun normal, which self-normalising units
such as SELU require; `layers.init_weights`).
"""

from __future__ import annotations

import importlib
import inspect
import typing
from dataclasses import dataclass
from typing import Any, Callable

from se_train.errors import UserError

GIVEN = ("num_classes", "input_shape", "act_layer", "se")  # what every model function is given by the data and the grid


@dataclass(frozen=True)
class Model:
    name: str
    builder: Callable[..., Any] | str  # the function, or "module:name" imported when first built
    options: tuple[str, ...]  # its keyword arguments beyond GIVEN
    activations: tuple[str, ...] | None  # None: every registered activation, a plugin's too
    se: bool  # whether it can add SE blocks
    required: tuple[str, ...] = ()  # options without a default: every cell of the model sets them

    def build(self) -> Callable[..., Any]:
        return _resolve(self.builder)

    def option_types(self) -> dict[str, Any]:
        """Its options' annotated types, read from the function a plugin registered."""
        try:
            hints = typing.get_type_hints(self.builder, include_extras=True)
        except Exception as e:  # noqa: BLE001 - an annotation naming what its module does not define
            raise UserError(f"model {self.name!r}: cannot read its options' types ({type(e).__name__}: {e})") from None
        return {name: hints[name] for name in self.options if name in hints}

    def supported(self) -> list[str]:
        return list(self.activations) if self.activations is not None else activation_names()


@dataclass(frozen=True)
class Activation:
    name: str
    layer: type | str  # the nn.Module class, or "module:name" imported when first built
    init: str  # one of INITS

    def build(self) -> type:
        return _resolve(self.layer)


INITS = ("he", "lecun")


def _resolve(place: Any) -> Any:
    """A registered function or class, imported from its "module:name" if given so."""
    if not isinstance(place, str):
        return place
    module, _, name = place.partition(":")
    return getattr(importlib.import_module(module), name)


_MODELS: dict[str, Model] = {}
_ACTIVATIONS: dict[str, Activation] = {}


def register_activation(layer: type | str | None = None, *, name: str | None = None, init: str = "he"):
    """Add an activation, as a call (`register_activation(nn.GELU, name="gelu")`) or a class
    decorator (`@register_activation(init="lecun")`, named after the class in lower case); a
    sweep's `grid.activation` then takes its name, and `compare:` compares it like a built-in."""
    if init not in INITS:
        raise UserError(f"activation {name or getattr(layer, '__name__', layer)!r}: init {init!r} is not one of {', '.join(INITS)}")

    def add(layer: type | str) -> type | str:
        key = name or layer.__name__.lower()
        if key in _ACTIVATIONS and _code(_ACTIVATIONS[key].layer) != _code(layer):
            raise UserError(f"activation {key!r} is registered twice: by {_where(_ACTIVATIONS[key].layer)} and by {_where(layer)}; rename one")
        _ACTIVATIONS[key] = Activation(key, layer, init)
        return layer

    return add(layer) if layer is not None else add


def register_model(fn: Callable | None = None, *, name: str | None = None, activations: tuple[str, ...] | None = None,
                   se: bool = True, options: tuple[str, ...] | None = None):
    """Add a model function to the registry, as a decorator (`@register_model`, or
    `@register_model(name="cbam_cnn", activations=("relu",))`). Its options are its keyword
    arguments beyond GIVEN, unless `options` names them (a built-in registered by its place)."""

    def add(builder: Callable | str) -> Callable | str:
        key = name or builder.__name__
        if key in _MODELS and _code(_MODELS[key].builder) != _code(builder):  # the same code from a copy of its file is no clash
            raise UserError(f"model {key!r} is registered twice: by {_where(_MODELS[key].builder)} and by {_where(builder)}; rename one")
        if activations is not None and (unknown := sorted(set(activations) - set(_ACTIVATIONS))):
            raise UserError(f"model {key!r}: activations {unknown} are not one of {', '.join(_ACTIVATIONS)}; "
                            "register_activation them first")
        kept = tuple(activations) if activations is not None else None
        if options is not None:
            _MODELS[key] = Model(key, builder, tuple(options), kept, se)
            return builder
        params = [p for p in inspect.signature(builder).parameters.values()
                  if p.name not in GIVEN and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        _MODELS[key] = Model(key, builder, tuple(p.name for p in params), kept, se, tuple(p.name for p in params if p.default is p.empty))
        return builder

    return add(fn) if fn is not None else add


def type_name(kind: Any) -> str:
    return kind.__name__ if isinstance(kind, type) else repr(kind).replace("typing.", "")


def _code(builder: Callable | str) -> str:
    if isinstance(builder, str):
        return builder
    try:
        return f"{builder.__qualname__}\n{inspect.getsource(builder)}"
    except (OSError, TypeError):  # no source to read (built in C, or made at run time)
        return repr(builder)


def _where(builder: Callable | str) -> str:
    return builder if isinstance(builder, str) else f"{builder.__module__}.{builder.__qualname__}"


# The built-in activations. torch.nn.SELU uses the exact constants of Klambauer et al. 2017
# (alpha ~ 1.6732632423543772, lambda ~ 1.0507009873554805); study_selu is the 2017 study's own.
register_activation("torch.nn:ReLU", name="relu")
register_activation("torch.nn:SELU", name="selu", init="lecun")
register_activation("se_train.models.layers:StudySELU", name="study_selu", init="lecun")

# The built-in models: each keeps its own defaults (se_reduction: the study's r = 4 on the
# SimpleCNN, 16 in every ResNet block); an option given as None takes the model's default.
# tests/test_models.py checks these options against the functions' signatures.
register_model("se_train.models.simple_cnn:SimpleCNN", name="simple_cnn", options=("se_reduction",))
register_model("se_train.models.resnet:resnet50", name="resnet50", options=("se_reduction", "stem", "head", "zero_init_last_bn"))


def list_models() -> list[Model]:
    """Every registered model, built-in ones first, in registration order."""
    return list(_MODELS.values())


def model_names() -> list[str]:
    return list(_MODELS)


def forget_models(names: set[str]) -> None:
    """Unregister models: a plugin's that was refused (`plugins.load`)."""
    for name in names:
        del _MODELS[name]


def activation_names() -> list[str]:
    """Every registered activation, built-in ones first, in registration order."""
    return list(_ACTIVATIONS)


def get_activation(name: str) -> Activation:
    try:
        return _ACTIVATIONS[name]
    except KeyError:
        raise UserError(f"activation {name!r} is not one of {', '.join(_ACTIVATIONS)}") from None


def get_model(name: str) -> Model:
    try:
        return _MODELS[name]
    except KeyError:
        raise UserError(f"model {name!r} is not one of {', '.join(_MODELS)}") from None


def options_taken(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """`options` for model `name` without those that are None (the model's default); a UserError
    names an option the model does not take. Checked by name, not by calling the function, so a
    sweep is checked before it starts and a TypeError inside a model stays the bug it is."""
    model = get_model(name)
    options = {k: v for k, v in options.items() if v is not None}
    if unknown := sorted(set(options) - set(model.options)):
        raise UserError(f"model {name!r} takes no option {unknown[0]!r} (it takes {', '.join(model.options) or 'none'})")
    return options
