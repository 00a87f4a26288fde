"""A split's per-channel pixel mean and std, summed as its images are read, so no split is held
whole to compute them (`prepare` and `prepare imagefolder` record them in the manifest)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PixelStats:
    """Per-channel sums over pixels scaled to [0, 1]; mean and std without holding the pixels."""

    sum: np.ndarray
    sumsq: np.ndarray
    count: int

    @classmethod
    def zero(cls, channels: int) -> "PixelStats":
        return cls(np.zeros(channels), np.zeros(channels), 0)

    @classmethod
    def of(cls, images: np.ndarray, chunk: int = 4096) -> "PixelStats":
        """Stats of uint8 images (... x C), in chunks so float64 copies stay small."""
        total = cls.zero(images.shape[-1])
        flat = images.reshape(-1, images.shape[-1])
        for start in range(0, len(flat), chunk * 1024):
            x = flat[start : start + chunk * 1024].astype(np.float64) / 255
            total = total + cls(x.sum(0), (x * x).sum(0), len(x))
        return total

    def __add__(self, other: "PixelStats") -> "PixelStats":
        return PixelStats(self.sum + other.sum, self.sumsq + other.sumsq, self.count + other.count)

    def mean_std(self) -> tuple[list[float], list[float]]:
        mean = self.sum / self.count
        return mean.tolist(), np.sqrt(np.maximum(self.sumsq / self.count - mean**2, 0)).tolist()
