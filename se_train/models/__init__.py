"""The models: the one registry (`catalog`, torch-free: `register_model`, `list_models`), the
builder (`registry.build_model`), the blocks (`layers`) and the architectures. Importing this
package imports no torch; a plugin writes `from se_train.models import register_model` (or `register_activation`)."""

from se_train.models.catalog import activation_names, list_models, register_activation, register_model

__all__ = ["activation_names", "list_models", "register_activation", "register_model"]

