"""The per-dataset manifest (`DIR/NAME/manifest.json`) and the checks readers make against it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow.parquet as pq
from pydantic import BaseModel, Field, ValidationError

from se_train.errors import UserError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class ShardInfo(BaseModel):
    file: str  # relative to the dataset folder, e.g. "train/part-00000.parquet"; never outside it
    rows: int = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str


class SplitInfo(BaseModel):
    rows: int = Field(ge=1)
    shards: list[ShardInfo]

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.shards)


class Manifest(BaseModel, extra="forbid"):
    format_version: int
    name: str
    num_classes: int = Field(ge=2)  # a classifier needs two
    class_names: list[str]
    image_shape: tuple[int, int, int] | None  # H, W, C; None when sizes vary (encoded images)
    channels: int = Field(ge=1, le=4)
    encoding: Literal["raw", "jpeg"]  # raw: uint8 H*W*C bytes; jpeg: RGB JPEG bytes
    mean: list[float]  # per channel, pixels scaled to [0, 1], over the train split
    std: list[float]
    seed: int  # the seed that carved the valid (and, where needed, test) split
    source: str
    splits: dict[str, SplitInfo]


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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shard_info(folder: Path, path: Path) -> ShardInfo:
    """Describe a written shard: rows from its Parquet footer, size and sha256 of its bytes."""
    return ShardInfo(
        file=path.relative_to(folder).as_posix(),
        rows=pq.ParquetFile(path).metadata.num_rows,
        bytes=path.stat().st_size,
        sha256=sha256_file(path),
    )


def write_manifest(folder: Path, manifest: Manifest) -> None:
    tmp = folder / (MANIFEST + ".tmp")
    tmp.write_text(manifest.model_dump_json(indent=2))
    tmp.replace(folder / MANIFEST)


def load_manifest(folder: Path) -> Manifest:
    """Read and validate `folder/manifest.json`; errors name the file and the field."""
    path = folder / MANIFEST
    if not path.is_file():
        raise UserError(f"{folder}: not a prepared dataset (no {MANIFEST}); run `se-sweep prepare`")
    try:
        raw = json.loads(path.read_text())
    except ValueError as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if version != FORMAT_VERSION:
        raise UserError(f"{path}: manifest format_version {version!r} is not {FORMAT_VERSION}; re-run `se-sweep prepare`")
    try:
        return Manifest.model_validate(raw)
    except ValidationError as e:
        err = e.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise UserError(f"{path}: {field}: {err['msg']}") from None


def verify_split(folder: Path, manifest: Manifest, split: str, *, checksums: bool) -> list[Path]:
    """Check a split's shards against the manifest and return their paths.

    Always: each shard exists, has the recorded size and the recorded row count (Parquet footer).
    With `checksums`, also its sha256 (reads every byte; cheap for small datasets).
    """
    if split not in manifest.splits:
        raise UserError(f"{folder / MANIFEST}: no split {split!r} (has {', '.join(manifest.splits)})")
    paths = []
    for shard in manifest.splits[split].shards:
        path = folder / shard.file
        if not path.resolve().is_relative_to(folder.resolve()):
            raise UserError(f"{folder / MANIFEST}: shard path {shard.file!r} leads outside the dataset folder")
        if not path.is_file():
            raise UserError(f"{path}: shard listed in the manifest is missing")
        if path.stat().st_size != shard.bytes:
            raise UserError(f"{path}: {path.stat().st_size} bytes, manifest says {shard.bytes}")
        try:
            rows = pq.ParquetFile(path).metadata.num_rows
        except Exception as e:  # noqa: BLE001 - any unreadable footer is a corrupt shard
            raise UserError(f"{path}: unreadable Parquet shard ({e})") from None
        if rows != shard.rows:
            raise UserError(f"{path}: {rows} rows, manifest says {shard.rows}")
        if checksums and sha256_file(path) != shard.sha256:
            raise UserError(f"{path}: sha256 differs from the manifest; the shard is corrupt, re-run prepare")
        paths.append(path)
    return paths
