"""A model of your own for se-sweep: a sweep file names this file under `plugins:` and its model
under `grid.model`. It registers with `se_train.models.register_model`; its keyword arguments
beyond the trial's own (num_classes, input_shape, act_layer, se) are its options, which a sweep
file sets as grid axes or train settings (`hidden: [64, 128]`), checked against their annotations."""

from torch import nn

from se_train.models import register_model


@register_model(name="mlp", activations=("relu", "selu"), se=False)
def mlp(*, num_classes: int, input_shape: tuple[int, int, int], act_layer: type[nn.Module], se: bool, hidden: int = 128) -> nn.Module:
    """Two hidden layers on the flattened image: a baseline with no convolution at all."""
    c, h, w = input_shape
    return nn.Sequential(nn.Flatten(), nn.Linear(c * h * w, hidden), act_layer(), nn.Linear(hidden, hidden), act_layer(),
                         nn.Linear(hidden, num_classes))
