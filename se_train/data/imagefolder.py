"""ImageNet-style folders (`train/<class>/*.JPEG`, `val/<class>/*.JPEG`) and any class-per-folder
tree of PNG or JPEG images to shards of the images as given: a PNG stays lossless, a greyscale
image one channel, a JPEG its own bytes; only `resize` (or a format or mode a model cannot take)
re-encodes one.

Too large for memory, so each shard is one job in a process pool: the job decodes every image
(an unreadable one is named, or skipped with `skip_bad`), writes its shard and returns pixel sums
for the mean/std, whether every image is greyscale, and their sizes. A shard already on disk is
kept, so an interrupted prepare resumes at shard granularity.
"""

from __future__ import annotations

import errno
import io
import json
import os
import stat
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from se_train.data.pixel_stats import PixelStats
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


def list_image_folder(folder: Path, classes: list[str] | None = None, exclude: set[str] = frozenset(), skip_bad: bool = False
                      ) -> tuple[list[tuple[str, int, int]], list[str], int]:
    """Sorted (path, label, bytes) of `folder/<class>/<image>`, labels indexing the sorted class
    names (`exclude`: subfolders that are not classes), and how many entries were skipped. Every
    file-system oddity among the class folders and images (a link that loops or points nowhere, a
    file that cannot be read, a FIFO or device, a name that is not UTF-8) is one line naming the
    first, or with `skip_bad` skipped and counted. A classifier needs two classes, each with images."""
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    odd: list[tuple[Path, str]] = []
    found = []
    for entry in sorted(folder.iterdir()):
        if entry.name in exclude:
            continue
        problem = _oddity(entry, folder=True)
        if problem:
            odd.append((entry, problem))
        elif entry.is_dir():
            found.append(entry.name)
    if classes is None and len(found) < 2:
        raise UserError(f"{folder}: {len(found)} class folder(s); a classifier needs at least two (one subfolder of images per class)")
    classes = classes or found
    unknown = sorted(set(found) - set(classes))
    if unknown:
        raise UserError(f"{folder / unknown[0]}: class folder not present in train/")
    files = []
    for label, name in enumerate(classes):
        if name not in found:
            continue
        images = [p for p in sorted((folder / name).iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
        if not images:
            raise UserError(f"{folder / name}: a class folder with no images (*.JPEG, *.jpg, *.png)")
        for path in images:
            problem = _oddity(path, folder=False)
            if problem:
                odd.append((path, problem))
            else:
                files.append((str(path), label, path.stat().st_size))
    if odd and not skip_bad:
        path, problem = odd[0]
        more = f" (and {len(odd) - 1} more such entries)" if len(odd) > 1 else ""
        raise UserError(f"{_shown(path)}: {problem}{more}; fix the tree or pass --skip-bad to skip them")
    if not files:
        raise UserError(f"{folder}: no images (*.JPEG, *.jpg, *.png) in any class folder")
    return files, classes, len(odd)


def _oddity(path: Path, folder: bool) -> str | None:
    """What makes an entry of a source tree unusable, or None: read once, here, so that later
    steps (sizes, shards) meet only plain files and folders."""
    try:
        path.name.encode("utf-8")
    except UnicodeEncodeError:
        return "a name that is not UTF-8 (class names and paths are recorded as text)"
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "a symbolic link that loops"
        if e.errno == errno.ENOENT and path.is_symlink():
            return f"a symbolic link to nothing ({os.readlink(path)})"
        return f"cannot be read ({e.strerror})"
    if folder:
        return None if stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode) else f"a {_kind(st.st_mode)}, not a folder"
    if not stat.S_ISREG(st.st_mode):
        return f"a {_kind(st.st_mode)}, not an image file"
    if not os.access(path, os.R_OK):
        return "cannot be read (permission denied)"
    return None


def _kind(mode: int) -> str:
    return next((what for test, what in ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISSOCK, "socket"),
                                         (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device")) if test(mode)), "special file")


def _shown(path: Path) -> str:
    """A path for a message: a name that is not UTF-8 with its odd bytes escaped."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}  # PIL's single-channel modes (LA: grey with alpha)


def _encode(path: str, resize: int | None) -> tuple[bytes, np.ndarray, bool]:
    """The bytes to store for one image, its pixels as RGB (for the statistics) and whether it is
    greyscale. A PNG or JPEG in greyscale or RGB is stored as it is, byte for byte; a resize, or
    another format or mode, is re-encoded: as PNG (lossless), or as JPEG where the source was one."""
    from PIL import Image

    raw = Path(path).read_bytes()
    with Image.open(io.BytesIO(raw)) as img:
        img.load()
        fmt, mode = img.format, img.mode
        grey = mode in GREY_MODES
        kept = img.convert("L" if grey else "RGB")
    if resize:
        scale = resize / min(kept.size)
        kept = kept.resize((max(1, round(kept.width * scale)), max(1, round(kept.height * scale))), Image.BICUBIC)
    if resize or fmt not in ("PNG", "JPEG") or mode not in ("L", "RGB"):
        buf = io.BytesIO()
        kept.save(buf, format="JPEG", quality=JPEG_QUALITY) if fmt == "JPEG" else kept.save(buf, format="PNG")
        raw = buf.getvalue()
    return raw, np.asarray(kept.convert("RGB")), grey


@dataclass
class ShardSummary:
    """What the manifest needs of a shard's images: RGB pixel statistics, how many were skipped,
    whether every one is greyscale, and their sizes (width, height)."""

    stats: PixelStats
    skipped: int
    grey: bool
    sizes: set[tuple[int, int]]

    def __add__(self, other: "ShardSummary") -> "ShardSummary":
        return ShardSummary(self.stats + other.stats, self.skipped + other.skipped, self.grey and other.grey, self.sizes | other.sizes)


def _write_image_shard(job: ShardJob) -> ShardSummary:
    """Write one shard (or reuse it if already whole on disk); return what the manifest needs of it."""
    if job.path.is_file():
        saved = json.loads(pq.ParquetFile(job.path).schema_arrow.metadata[b"se_sweep"])
        return ShardSummary(PixelStats(np.array(saved["sum"]), np.array(saved["sumsq"]), saved["count"]), saved["skipped"],
                            saved["grey"], {tuple(size) for size in saved["sizes"]})
    blobs, labels = [], []
    summary = ShardSummary(PixelStats.zero(3), 0, True, set())
    for path, label in job.files:
        try:
            blob, pixels, grey = _encode(path, job.resize)
        except Exception as e:  # noqa: BLE001 - PIL raises many types for a bad image
            if not job.skip_bad:
                raise UserError(f"{path}: unreadable image ({e}); pass --skip-bad to skip such images") from None
            summary.skipped += 1
            continue
        blobs.append(blob)
        labels.append(label)
        summary = summary + ShardSummary(PixelStats.of(pixels), 0, grey, {(pixels.shape[1], pixels.shape[0])})
    saved = {"sum": summary.stats.sum.tolist(), "sumsq": summary.stats.sumsq.tolist(), "count": summary.stats.count,
             "skipped": summary.skipped, "grey": summary.grey, "sizes": sorted(summary.sizes)}
    write_shard(job.path, pa.array(blobs, pa.binary()), np.array(labels, np.int64), {"se_sweep": json.dumps(saved)})
    return summary


def plan_shards(
    folder: Path, split: str, files: list[tuple[str, int, int]], shard_bytes: int, resize: int | None, skip_bad: bool
) -> list[ShardJob]:
    """Cut `files` into consecutive shards of about `shard_bytes` (by source file size): the cut
    depends only on the file list, so a resumed prepare makes the same shards."""
    jobs, current, size = [], [], 0
    for path, label, nbytes in files:  # sizes as listed: the tree is not read again
        current.append((path, label))
        size += nbytes
        if size >= shard_bytes:
            jobs.append(current)
            current, size = [], 0
    if current:
        jobs.append(current)
    return [ShardJob(shard_path(folder, split, i), chunk, resize, skip_bad) for i, chunk in enumerate(jobs)]


def write_image_split(jobs: list[ShardJob], workers: int, desc: str) -> ShardSummary:
    """Run the shard jobs on `workers` processes; return what the manifest needs of the split."""
    total = ShardSummary(PixelStats.zero(3), 0, True, set())
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for summary in tqdm(pool.map(_write_image_shard, jobs), total=len(jobs), desc=desc, unit="shard", disable=None):
            total = total + summary
    return total
