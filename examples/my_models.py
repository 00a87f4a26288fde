"""A model and an activation of your own for se-sweep: a sweep file names this file under
`plugins:`, its model under `grid.model` and its activation under `grid.activation`. The model
registers with `se_train.models.register_model`; its keyword arguments beyond the trial's own
(num_classes, input_shape, act_layer, se) are its options, which a sweep file sets as grid axes or
train settings (`hidden: [64, 128]`), checked against their annotations. The activation registers
with `register_activation`, saying how layers before it are initialised ("he" for ReLU-like
units, "lecun" for self-normalising ones)."""

from torch import nn

from se_train.models import register_activation, register_model

register_activation(nn.GELU, name="gelu", init="he")  # GELU (Hendrycks & Gimpel 2016), smooth and ReLU-like


@register_model(name="mlp", activations=("relu", "selu", "gelu"), se=False)
def mlp(*, num_classes: int, input_shape: tuple[int, int, int], act_layer: type[nn.Module], se: bool, hidden: int = 128) -> nn.Module:
    """Two hidden layers on the flattened image: a baseline with no convolution at all."""
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), act_layer(), nn.Linear(hidden, hidden), act_layer(),
                         nn.Linear(hidden, num_classes))
