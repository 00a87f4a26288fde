"""Model registry, blocks and the activation-aware initialisation."""

from se_train.models.layers import SqueezeExcite, activation_layer, init_weights
from se_train.models.registry import build_model, count_parameters, model_names

__all__ = ["SqueezeExcite", "activation_layer", "build_model", "count_parameters", "init_weights", "model_names"]
