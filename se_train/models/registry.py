"""The string registry of architectures and `build_model`, the one way to construct a model."""

from __future__ import annotations

import inspect
from functools import partial
from typing import Any, Callable

from torch import nn

from se_train.errors import UserError
from se_train.models.layers import activation_layer
from se_train.models.resnet import ResNet
from se_train.models.simple_cnn import SimpleCNN

# Each model keeps its own defaults (se_reduction: the study's r = 4 on the SimpleCNN, 16 in
# every ResNet block); an option given as None takes the model's default.
_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "simple_cnn": SimpleCNN,
    "resnet50": partial(ResNet, (3, 4, 6, 3)),
}
# What every model is given by the data and the grid; the rest of its keywords are its options.
_COMMON = ("num_classes", "input_shape", "act_layer", "se")
_OPTIONS = {
    name: [p for p in inspect.signature(builder).parameters if p not in _COMMON] for name, builder in _BUILDERS.items()
}


def model_names() -> list[str]:
    """Registered model names, in registration order."""
    return list(_BUILDERS)


def option_names() -> set[str]:
    """Every keyword some registered model takes as an option."""
    return {p for takes in _OPTIONS.values() for p in takes}


def options_taken(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """`options` for model `name` without those that are None (the model's default); a UserError
    names an option the model does not take. Checked by name, not by calling the constructor, so
    a sweep is checked before it starts and a TypeError inside a constructor stays the bug it is."""
    try:
        takes = _OPTIONS[name]
    except KeyError:
        raise UserError(f"model {name!r} is not one of {', '.join(_BUILDERS)}") from None
    options = {k: v for k, v in options.items() if v is not None}
    if unknown := sorted(set(options) - set(takes)):
        raise UserError(f"model {name!r} takes no option {unknown[0]!r} (it takes {', '.join(takes)})")
    return options


def build_model(
    name: str, *, num_classes: int, input_shape: tuple[int, int, int], activation: str, se: bool, **options: Any
) -> nn.Module:
    """Build model `name` for inputs of `input_shape` (channels, height, width); each model
    initialises itself for its activation (`init_weights`). `options` are the model's own keywords
    (se_reduction; resnet50: stem, head, zero_init_last_bn); one that is None takes its default."""
    options = options_taken(name, options)
    return _BUILDERS[name](
        num_classes=num_classes, input_shape=input_shape, act_layer=activation_layer(activation), se=se, **options
    )


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
