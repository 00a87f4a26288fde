"""ResNet with bottleneck blocks (He et al. 2016), v1.5 as torchvision: stride on the 3x3 conv.

The activation and the SE block are arguments of the one `Bottleneck`, so SE-ResNet-50 with SELU
is `resnet50` with `act_layer=nn.SELU, se=True`, not another class.
"""

from __future__ import annotations

from functools import partial

import torch
from torch import nn

from se_train.errors import UserError
from se_train.models.layers import SqueezeExcite, init_weights


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride) -> 1x1 with BN; SE on the residual branch after the last BN and before
    the addition (SE paper, Fig. 3); the activation after the addition."""

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        planes: int,
        stride: int,
        *,
        act_layer: type[nn.Module],
        se_reduction: int | None,
    ) -> None:
        super().__init__()
        out_channels = planes * self.expansion
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.se = SqueezeExcite(out_channels, se_reduction) if se_reduction is not None else nn.Identity()
        self.act = act_layer()
        self.downsample: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act(self.bn1(self.conv1(x)))
        out = self.act(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        return self.act(out + self.downsample(x))


class ResNet(nn.Module):
    """Bottleneck ResNet.

    stem "imagenet": conv7x7/2 + BN + act + maxpool 3x3/2 (the study's, = torchvision);
    stem "cifar": conv3x3/1 + BN + act, no pooling, for 32 px inputs.
    head "standard": global average pool -> FC (torchvision); head "study": pool -> FC-512 + act
    -> FC-256 + act -> FC (the 2017 study's Table 1).
    zero_init_last_bn: start each residual branch at zero (Goyal et al. 2017), so every block
    begins as the identity. Of `input_shape` only the channels matter: global pooling takes any size.
    """

    def __init__(
        self,
        layers: tuple[int, ...],
        *,
        num_classes: int,
        input_shape: tuple[int, int, int],
        act_layer: type[nn.Module],
        se: bool,
        se_reduction: int = 16,
        stem: str = "imagenet",
        head: str = "standard",
        zero_init_last_bn: bool = False,
    ) -> None:
        super().__init__()
        in_channels = input_shape[0]
        if stem == "imagenet":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(64),
                act_layer(),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
        elif stem == "cifar":
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), act_layer()
            )
        else:
            raise UserError(f"stem {stem!r} is not one of imagenet, cifar")

        stages: list[nn.Module] = []
        channels = 64
        for i, blocks in enumerate(layers):
            planes = 64 * 2**i
            stage = []
            for b in range(blocks):
                stride = 2 if i > 0 and b == 0 else 1
                stage.append(
                    Bottleneck(channels, planes, stride, act_layer=act_layer, se_reduction=se_reduction if se else None)
                )
                channels = planes * Bottleneck.expansion
            stages.append(nn.Sequential(*stage))
        self.stages = nn.Sequential(*stages)
        self.pool = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())

        if head == "standard":
            self.head: nn.Module = nn.Linear(channels, num_classes)
        elif head == "study":
            self.head = nn.Sequential(
                nn.Linear(channels, 512), act_layer(), nn.Linear(512, 256), act_layer(), nn.Linear(256, num_classes)
            )
        else:
            raise UserError(f"head {head!r} is not one of standard, study")
        init_weights(self, act_layer)
        if zero_init_last_bn:  # after the generic init, which sets every BN gamma to 1
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.zeros_(m.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pool(self.stages(self.stem(x))))


resnet50 = partial(ResNet, (3, 4, 6, 3))  # the registry's "resnet50": 3, 4, 6, 3 bottleneck blocks
