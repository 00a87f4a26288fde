"""One SE block's training step (forward + backward), as shipped and as the alternatives issue 12
names: the squeeze as `mean` (what the block used before) and timm's 1x1 convolutions with
`keepdim=True`. Same maths, same parameters; the variants take turns, each time is the median.

    python benchmarks/se_block.py [--rounds 5] [--steps 10]

Shapes: ResNet-50's widest tensor in its first and last stage (batch 32 at 224 px: 56 px and
7 px), and at the study's MNIST cell (batch 50, 28 px: 7 px and 1 px). Channels-last inputs, as
the training loop runs on a GPU; on a GPU in bf16 autocast.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from se_train.bench import machine
from se_train.models.layers import SqueezeExcite


class MeanSqueeze(SqueezeExcite):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * s[:, :, None, None]


class ConvExcite(nn.Module):  # timm's SEModule without its optional BN
    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(torch.relu(self.fc1(x.mean((2, 3), keepdim=True)))))


VARIANTS = {"SqueezeExcite (shipped)": SqueezeExcite, "mean squeeze (before)": MeanSqueeze, "1x1 convs (timm)": ConvExcite}
SHAPES = [(32, 256, 56, 56), (32, 2048, 7, 7), (50, 256, 7, 7), (50, 2048, 1, 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    print(f"machine: {machine()}; device: {device}; {args.rounds} rounds of {args.steps} steps, median")
    for shape in SHAPES:
        x = torch.randn(*shape, device=device).contiguous(memory_format=torch.channels_last).requires_grad_()
        grad = torch.randn_like(x)
        blocks = {name: cls(shape[1]).to(device) for name, cls in VARIANTS.items()}

        def step(block: nn.Module) -> None:
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                out = block(x)
            out.backward(grad)

        times: dict[str, list[float]] = {name: [] for name in blocks}
        for name, block in blocks.items():
            step(block)  # warm-up
        for _ in range(args.rounds):
            for name, block in blocks.items():
                sync()
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    step(block)
                sync()
                times[name].append((time.perf_counter() - t0) / args.steps * 1e3)
        shipped = statistics.median(times["SqueezeExcite (shipped)"])
        print(f"\n{'x'.join(map(str, shape))}")
        for name, t in times.items():
            print(f"  {name:<26}: {statistics.median(t):8.3f} ms  ({statistics.median(t) / shipped:.2f} x shipped)")


if __name__ == "__main__":
    main()
