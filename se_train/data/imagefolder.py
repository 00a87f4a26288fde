"""ImageNet-style folders (`train/<class>/*.JPEG`, `val/<class>/*.JPEG`) to JPEG shards.

Too large for memory, so each shard is one job in a process pool: the job decodes every image
(an unreadable one is named, or skipped with `skip_bad`), optionally re-encodes it to a shorter
side of `resize` px, writes its shard and returns pixel sums for the mean/std. A shard already
on disk is kept, so an interrupted prepare resumes at shard granularity.
"""

from __future__ import annotations

import io
import json
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from se_train.data.manifest import PixelStats
from se_train.data.shards import shard_path, write_shard
from se_train.errors import UserError

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}
JPEG_QUALITY = 95


@dataclass(frozen=True)
class ShardJob:
    path: Path
    files: list[tuple[str, int]]  # (image path, label)
    resize: int | None
    skip_bad: bool


def list_image_folder(folder: Path, classes: list[str] | None = None, exclude: set[str] = frozenset()) -> tuple[list[tuple[str, int]], list[str]]:
    """Sorted (path, label) pairs of `folder/<class>/<image>`; labels index the sorted class names
    (`exclude`: subfolders that are not classes). A classifier needs two classes, each with images."""
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    found = sorted(p.name for p in folder.iterdir() if p.is_dir() and p.name not in exclude)
    if classes is None and len(found) < 2:
        raise UserError(f"{folder}: {len(found)} class folder(s); a classifier needs at least two (one subfolder of images per class)")
    for name in found:
        if not any(p.suffix.lower() in IMAGE_SUFFIXES for p in (folder / name).iterdir()):
            raise UserError(f"{folder / name}: a class folder with no images (*.JPEG, *.jpg, *.png)")
    classes = classes or found
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise UserError(f"{folder / unknown[0]}: class folder not present in train/")
    files = [
        (str(p), label)
        for label, name in enumerate(classes)
        if (folder / name).is_dir()
        for p in sorted((folder / name).iterdir())
        if p.suffix.lower() in IMAGE_SUFFIXES
    ]
    if not files:
        raise UserError(f"{folder}: no images (*.JPEG, *.jpg, *.png) in any class folder")
    return files, classes


def _encode(path: str, resize: int | None) -> tuple[bytes, np.ndarray]:
    from PIL import Image

    raw = Path(path).read_bytes()
    with Image.open(io.BytesIO(raw)) as img:
        img.load()
        fmt, mode = img.format, img.mode
        rgb = img.convert("RGB")
    if resize:
        scale = resize / min(rgb.size)
        rgb = rgb.resize((max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale))), Image.BICUBIC)
    if resize or fmt != "JPEG" or mode != "RGB":
        buf = io.BytesIO()
        rgb.save(buf, format="JPEG", quality=JPEG_QUALITY)
        raw = buf.getvalue()
    return raw, np.asarray(rgb)


def _write_image_shard(job: ShardJob) -> tuple[PixelStats, int]:
    """Write one shard (or reuse it if already whole on disk); return its pixel stats and skips."""
    if job.path.is_file():
        meta = pq.ParquetFile(job.path).schema_arrow.metadata
        saved = json.loads(meta[b"se_sweep"])
        return PixelStats(np.array(saved["sum"]), np.array(saved["sumsq"]), saved["count"]), saved["skipped"]
    blobs, labels, skipped = [], [], 0
    stats = PixelStats.zero(3)
    for path, label in job.files:
        try:
            blob, pixels = _encode(path, job.resize)
        except Exception as e:  # noqa: BLE001 - PIL raises many types for a bad image
            if not job.skip_bad:
                raise UserError(f"{path}: unreadable image ({e}); pass --skip-bad to skip such images") from None
            skipped += 1
            continue
        blobs.append(blob)
        labels.append(label)
        stats = stats + PixelStats.of(pixels)
    saved = {"sum": stats.sum.tolist(), "sumsq": stats.sumsq.tolist(), "count": stats.count, "skipped": skipped}
    write_shard(job.path, pa.array(blobs, pa.binary()), np.array(labels, np.int64), {"se_sweep": json.dumps(saved)})
    return stats, skipped


def plan_shards(
    folder: Path, split: str, files: list[tuple[str, int]], shard_bytes: int, resize: int | None, skip_bad: bool
) -> list[ShardJob]:
    """Cut `files` into consecutive shards of about `shard_bytes` (by source file size): the cut
    depends only on the file list, so a resumed prepare makes the same shards."""
    jobs, current, size = [], [], 0
    for path, label in files:
        current.append((path, label))
        size += os.path.getsize(path)
        if size >= shard_bytes:
            jobs.append(current)
            current, size = [], 0
    if current:
        jobs.append(current)
    return [ShardJob(shard_path(folder, split, i), chunk, resize, skip_bad) for i, chunk in enumerate(jobs)]


def write_image_split(jobs: list[ShardJob], workers: int, desc: str) -> tuple[PixelStats, int]:
    """Run the shard jobs on `workers` processes; return summed pixel stats and skipped images."""
    total, skipped = PixelStats.zero(3), 0
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for stats, skips in tqdm(pool.map(_write_image_shard, jobs), total=len(jobs), desc=desc, unit="shard", disable=None):
            total, skipped = total + stats, skipped + skips
    return total, skipped
