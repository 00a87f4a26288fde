"""The string registry of architectures and `build_model`, the one way to construct a model."""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from torch import nn

from se_train.models.catalog import options_taken
from se_train.models.layers import activation_layer
from se_train.models.resnet import ResNet
from se_train.models.simple_cnn import SimpleCNN

# Each model keeps its own defaults (se_reduction: the study's r = 4 on the SimpleCNN, 16 in
# every ResNet block); an option given as None takes the model's default.
_BUILDERS: dict[str, Callable[..., nn.Module]] = {  # one per catalog.MODEL_OPTIONS entry
    "simple_cnn": SimpleCNN,
    "resnet50": partial(ResNet, (3, 4, 6, 3)),
}


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
