"""`build_model`, the one way to construct a registered model (`catalog`), and its parameter count."""

from __future__ import annotations

from typing import Any

from torch import nn

from se_train.models.catalog import get_activation, get_model, options_taken


def build_model(
    name: str, *, num_classes: int, input_shape: tuple[int, int, int], activation: str, se: bool, **options: Any
) -> nn.Module:
    """Build model `name` for inputs of `input_shape` (channels, height, width); each model
    initialises itself for its activation (`init_weights`). `options` are the model's own keywords
    (se_reduction; resnet50: stem, head, zero_init_last_bn); one that is None takes its default."""
    options = options_taken(name, options)
    return get_model(name).build()(num_classes=num_classes, input_shape=input_shape, act_layer=get_activation(activation).build(), se=se, **options)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
