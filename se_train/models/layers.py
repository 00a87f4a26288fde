"""Reusable blocks and the activation-aware initialisation policy.

Architectures in this package take the activation and the attention block as arguments, so
ReLU/SELU x SE/no-SE is four argument combinations of one class, never four classes.
"""

from __future__ import annotations

import torch
from torch import nn

from se_train.errors import UserError
from se_train.models.catalog import activation_names, get_activation


class StudySELU(nn.Module):
    """SELU exactly as the 2017 study wrote it (its code listing 3), kept to reproduce its NaN runs:
    `scale * tf.where(x > 0, x, alpha * exp(x) - alpha)`. Forward is SELU, but exp(x) is computed
    for every x: above x ~ 88.7 it is inf in float32, and the gradient of the branch `where` does
    not take is 0 * inf = NaN. One pre-activation above 88 makes every weight NaN after the step.
    `torch.nn.SELU` computes the exponential only where it is used and has no such step."""

    alpha, scale = 1.6733, 1.0507  # the study's rounded constants

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * torch.where(x > 0, x, self.alpha * torch.exp(x) - self.alpha)


class SqueezeExcite(nn.Module):
    """Squeeze-and-Excitation (Hu et al. 2017, arXiv:1709.01507).

    squeeze: global average pool; excite: FC(C -> C/r) + ReLU + FC(C/r -> C) + sigmoid, with
    biases as in the paper's reference; scale: channel-wise product with the input.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        if reduction < 1 or channels // reduction < 1:
            raise UserError(f"se_reduction {reduction} leaves no hidden units for {channels} channels")
        hidden = channels // reduction
        self.fc1 = nn.Linear(channels, hidden)
        self.fc2 = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # The squeeze is a sum divided on the small (N, C) result rather than `mean`: the same
        # average, but its gradient flows back as a broadcast view that autograd adds in place to
        # the scale's, where `mean`'s backward first writes a full-size tensor.
        z = x.sum(dim=(2, 3)) / (x.shape[2] * x.shape[3])
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))
        return x * s[:, :, None, None]


def init_weights(model: nn.Module, act_layer: type[nn.Module]) -> None:
    """Initialise every conv and linear layer for the network's activation.

    As its activation was registered (`catalog.register_activation`'s `init`): "he", e.g. ReLU,
    He/Kaiming normal (fan_out for convs, as torchvision's ResNet); "lecun", e.g. SELU: LeCun normal,
    variance 1/fan_in, which self-normalisation requires (Klambauer et al. 2017). PyTorch's
    `calculate_gain('selu')` = 3/4 is documented as *not* self-normalising, and PyTorch's default
    (kaiming_uniform with a=sqrt(5), variance 1/(3 fan_in)) shrinks activations layer by layer;
    a SELU net without LeCun init is the first suspect for the 2017 study's NaN runs.
    Biases start at zero; BatchNorm at gamma=1, beta=0.
    """
    lecun = any(a.init == "lecun" and a.build() is act_layer for a in map(get_activation, activation_names()))
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if lecun:
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="linear")
            else:
                mode = "fan_out" if isinstance(m, nn.Conv2d) else "fan_in"
                nn.init.kaiming_normal_(m.weight, mode=mode, nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
