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


def model_names() -> list[str]:
    """Registered model names, in registration order."""
    return list(_BUILDERS)


def build_model(
    name: str,
    *,
    num_classes: int,
    in_channels: int,
    activation: str,
    se: bool,
    **options: Any,
) -> nn.Module:
    """Build model `name`; each model initialises itself for its activation (`init_weights`).
    `options` are the architecture's own keywords (se_reduction; simple_cnn: image_size; resnet50:
    stem, head, zero_init_last_bn); one that is None takes the model's default.
    """
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise UserError(f"model {name!r} is not one of {', '.join(_BUILDERS)}") from None
    options = {k: v for k, v in options.items() if v is not None}
    # Checked by name, so a TypeError raised inside a constructor stays the bug it is.
    takes = [p for p in inspect.signature(builder).parameters if p not in ("num_classes", "in_channels", "act_layer", "se")]
    if unknown := sorted(set(options) - set(takes)):
        raise UserError(f"model {name!r} takes no option {unknown[0]!r} (it takes {', '.join(takes)})")
    return builder(num_classes=num_classes, in_channels=in_channels, act_layer=activation_layer(activation), se=se, **options)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
