"""Writing Parquet shards atomically: columns `image` (binary) and `label` (int64)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

DEFAULT_SHARD_BYTES = 128 * 2**20


def shard_path(folder: Path, split: str, index: int) -> Path:
    return folder / split / f"part-{index:05d}.parquet"


def binary_column(images: np.ndarray) -> pa.Array:
    """N fixed-size uint8 images as one Arrow binary column, without a per-image Python loop."""
    n = len(images)
    per_image = int(np.prod(images.shape[1:]))
    offsets = np.arange(n + 1, dtype=np.int32) * per_image
    data = np.ascontiguousarray(images).reshape(-1)
    return pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)])


def write_shard(path: Path, images: pa.Array, labels: np.ndarray, metadata: dict[str, str] | None = None) -> None:
    """Write one shard under a temporary name and rename it: a shard file is whole or absent."""
    table = pa.table({"image": images, "label": pa.array(labels, pa.int64())})
    if metadata:
        table = table.replace_schema_metadata(metadata)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def write_array_split(
    folder: Path, split: str, images: np.ndarray, labels: np.ndarray, shard_bytes: int = DEFAULT_SHARD_BYTES
) -> list[Path]:
    """Write uint8 images N x H x W x C as raw-encoded shards of about `shard_bytes` each."""
    per_image = int(np.prod(images.shape[1:]))
    rows = max(1, shard_bytes // per_image)
    paths = []
    starts = range(0, len(images), rows)
    for index, start in enumerate(tqdm(starts, desc=f"{split} shards", unit="shard", disable=None, leave=False)):
        path = shard_path(folder, split, index)
        write_shard(path, binary_column(images[start : start + rows]), labels[start : start + rows])
        paths.append(path)
    return paths
