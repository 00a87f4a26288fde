"""The string registry of architectures and `build_model`, the one way to construct a model."""

from __future__ import annotations

from typing import Any, Callable

from torch import nn

from se_train.errors import UserError
from se_train.models.layers import activation_layer, init_weights
from se_train.models.resnet import ResNet
from se_train.models.simple_cnn import SimpleCNN

# Reduction used when a sweep does not set one. The study's Table 1: SE(16 -> 64) on the
# SimpleCNN (r = 4, 16 hidden units) and r = 16 in every ResNet block (SE(16 -> 256) ...).
DEFAULT_SE_REDUCTION = {"simple_cnn": 4, "resnet50": 16}

_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "simple_cnn": lambda **kw: SimpleCNN(**kw),
    "resnet50": lambda **kw: ResNet((3, 4, 6, 3), **kw),
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
    se_reduction: int | None = None,
    **options: Any,
) -> nn.Module:
    """Build and initialise model `name`.

    The initialisation follows `activation` (see `init_weights`). `se_reduction=None` takes the
    model's default (`DEFAULT_SE_REDUCTION`). `options` are the architecture's own keywords:
    simple_cnn: image_size; resnet50: stem, head, zero_init_last_bn.
    """
    try:
        builder = _BUILDERS[name]
    except KeyError:
        raise UserError(f"model {name!r} is not one of {', '.join(_BUILDERS)}") from None
    reduction = DEFAULT_SE_REDUCTION[name] if se_reduction is None else se_reduction
    try:
        model = builder(
            num_classes=num_classes,
            in_channels=in_channels,
            act_layer=activation_layer(activation),
            se=se,
            se_reduction=reduction,
            **options,
        )
    except TypeError as e:  # an option the architecture does not take
        raise UserError(f"model {name!r}: {e}") from None
    init_weights(model, activation)
    if isinstance(model, ResNet):
        model.reset_last_bn()
    return model


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
