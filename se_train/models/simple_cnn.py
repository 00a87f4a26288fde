"""The 2017 study's "Sample" network (its Table 1), with the activation and SE as arguments."""

from __future__ import annotations

import torch
from torch import nn

from se_train.errors import UserError
from se_train.models.layers import SqueezeExcite, init_weights


class SimpleCNN(nn.Module):
    """Three conv5x5 (16, 32, 64) + activation + maxpool 2 stages, an optional SE block on the
    last stage's 64 channels, then FC-256, FC-128 (each + activation) and the classifier.

    The input's height and width fix the flattened width, as in the study (no global pooling):
    28 x 28 px gives 64 x 3 x 3 features. Any size from 8 x 8 px works.
    """

    def __init__(
        self,
        *,
        num_classes: int,
        input_shape: tuple[int, int, int],
        act_layer: type[nn.Module],
        se: bool,
        se_reduction: int = 4,
    ) -> None:
        super().__init__()
        channels, height, width = input_shape
        if min(height, width) < 8:
            raise UserError(f"simple_cnn needs images of at least 8 x 8 px, got {height} x {width}")
        layers: list[nn.Module] = []
        for filters in (16, 32, 64):
            layers += [nn.Conv2d(channels, filters, 5, padding=2), act_layer(), nn.MaxPool2d(2)]
            channels = filters
        if se:
            layers.append(SqueezeExcite(channels, se_reduction))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * (height // 8) * (width // 8), 256),
            act_layer(),
            nn.Linear(256, 128),
            act_layer(),
            nn.Linear(128, num_classes),
        )
        init_weights(self, act_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
