"""The models: the one registry (`catalog`, torch-free: `register_model`, `list_models`), the
builder (`registry.build_model`), the blocks (`layers`) and the architectures. Importing this
package imports no torch; a plugin writes `from se_train.models import register_model`."""

from se_train.models.catalog import list_models, register_model

__all__ = ["list_models", "register_model"]
