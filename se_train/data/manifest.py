"""The per-dataset manifest (`DIR/NAME/manifest.json`) and the checks readers make against it."""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath
from typing import Annotated, Literal

import pyarrow.fs
import pyarrow.parquet as pq
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from se_train import storage
from se_train.errors import UserError
from se_train.validation import STRICT, Problems, invalid

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


class ShardInfo(BaseModel):
    model_config = STRICT

    file: str  # relative to the dataset folder, e.g. "train/part-00000.parquet"; never outside it
    rows: int = Field(ge=0)
    bytes: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")

    @field_validator("file")
    @classmethod
    def _inside(cls, v: str) -> str:
        # Checked on the name alone, so it holds for a bucket's keys as for a disk's paths (and a
        # fetch never writes outside the local copy).
        if PurePosixPath(v).is_absolute() or ".." in PurePosixPath(v).parts:
            raise ValueError(f"shard path {v!r} leads outside the dataset folder")
        return v


class SplitInfo(BaseModel):
    model_config = STRICT

    rows: int = Field(ge=1)
    shards: list[ShardInfo]

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.shards)


# Every field a trial divides by or indexes with is bounded here, so a hand-edited or truncated
# manifest is refused before Ray, not met as a division by zero in a worker.
Side = Annotated[int, Field(ge=1, le=1 << 16)]


class Manifest(BaseModel):
    model_config = STRICT

    format_version: int
    name: str
    num_classes: int = Field(ge=2)  # a classifier needs two
    class_names: list[str]
    image_shape: tuple[Side, Side, Side] | None  # H, W, C; None when sizes vary (encoded images)
    channels: int = Field(ge=1, le=4)
    # raw: uint8 H*W*C bytes; image: each image's own file (PNG or JPEG, as given), decoded to
    # `channels`; jpeg: RGB JPEG bytes (image folders prepared before they were kept as given)
    encoding: Literal["raw", "image", "jpeg"]
    mean: list[Annotated[float, Field(ge=0, le=1)]]  # per channel, pixels scaled to [0, 1], over the train split
    std: list[Annotated[float, Field(gt=0, le=1)]]  # inputs are divided by it
    seed: int = Field(ge=0)  # the seed that carved the valid (and, where needed, test) split
    source: str
    splits: dict[str, SplitInfo]

    @model_validator(mode="after")
    def _consistent(self) -> "Manifest":
        """The fields agree with each other; every disagreement is named, each at its field."""
        problems = Problems()
        if len(self.class_names) != self.num_classes:
            problems.add(("class_names",), f"{len(self.class_names)} names for num_classes {self.num_classes}")
        for field in ("mean", "std"):
            if len(getattr(self, field)) != self.channels:
                problems.add((field,), f"{len(getattr(self, field))} values for {self.channels} channel(s)")
        if self.encoding == "raw" and (self.image_shape is None or self.image_shape[2] != self.channels):
            problems.add(("image_shape",), f"{self.image_shape} does not give {self.channels} channel(s) of raw images")
        if self.encoding != "raw" and self.image_shape is not None and self.image_shape[2] != self.channels:
            problems.add(("image_shape",), f"{self.image_shape} does not give {self.channels} channel(s)")
        for name in ("train", "valid"):
            if name not in self.splits:
                problems.add(("splits",), f"no {name!r} split")
        for name, split in self.splits.items():
            if split.rows != sum(s.rows for s in split.shards):
                problems.add(("splits", name, "rows"), f"{split.rows}, but its shards hold {sum(s.rows for s in split.shards)}")
        problems.raise_any("Manifest")
        return self

    def stored_shape(self, image_size: int | None) -> tuple[int, int, int]:
        """H, W, C of the images as they are decoded: the native size of raw images, and of encoded
        ones that all share one size, unless `image_size` resizes them."""
        if self.encoding == "raw" or (image_size is None and self.image_shape is not None):
            return self.image_shape
        if image_size is None:
            raise UserError(f"dataset {self.name!r} has images of varying size: set image_size")
        return (image_size, image_size, self.channels)

    def input_shape(self, image_size: int | None) -> tuple[int, int, int]:
        """Channels, height, width the model sees: `image_size` square, or the native size when None."""
        if image_size is not None:
            return (self.channels, image_size, image_size)
        h, w, _ = self.stored_shape(None)
        return (self.channels, h, w)

    def fits_in_memory(self, split: str, image_size: int | None, limit_mb: float) -> bool:
        """Whether the split's decoded pixels fit in `limit_mb` MiB (`resources.in_memory_mb`)."""
        h, w, c = self.stored_shape(image_size)
        return self.splits[split].rows * h * w * c <= limit_mb * 2**20

    def trial_splits(self, image_size: int | None, test_split: bool, limit_mb: float) -> dict[str, bool]:
        """The splits a trial reads, each with whether it is held in memory (else streamed): train,
        valid, and test where the dataset has one and the trial reads it."""
        return {split: self.fits_in_memory(split, image_size, limit_mb)
                for split in ("train", "valid", "test") if split in self.splits and (split != "test" or test_split)}


def sha256_file(path: str | Path, fs: pyarrow.fs.FileSystem = storage.LOCAL) -> str:
    h = hashlib.sha256()
    with fs.open_input_stream(str(path)) as f:
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


def load_manifest(folder: str | Path) -> Manifest:
    """Read and validate `folder/manifest.json`, a local folder's or a URI's; errors name the file
    and the field."""
    path = storage.join(str(folder), MANIFEST)
    if not storage.exists(path):
        raise UserError(f"{folder}: not a prepared dataset (no {MANIFEST}); run `se-sweep prepare`")
    return parse_manifest(storage.read_text(path), path)


def parse_manifest(text: str, path: str) -> Manifest:
    """A manifest from its text, read from `path` (named in its errors)."""
    try:
        raw = json.loads(text)
    except ValueError as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if version != FORMAT_VERSION:
        raise UserError(f"{path}: manifest format_version {version!r} is not {FORMAT_VERSION}; re-run `se-sweep prepare`")
    try:
        return Manifest.model_validate_json(text)  # JSON mode: its lists are the tuples they stand for
    except ValidationError as e:
        raise invalid(path, e) from None


def _check_columns(path: str, footer: pq.FileMetaData, num_classes: int) -> None:
    """The shard has the image and label columns, and its labels (from the footer's statistics,
    no data read) are classes of the manifest."""
    names = [footer.schema.column(i).name for i in range(footer.num_columns)]
    if "image" not in names or "label" not in names:
        raise UserError(f"{path}: columns {names}, expected image and label")
    label = names.index("label")
    for g in range(footer.num_row_groups):
        stats = footer.row_group(g).column(label).statistics
        if stats is not None and stats.has_min_max and not (0 <= stats.min and stats.max < num_classes):
            raise UserError(f"{path}: labels {stats.min}..{stats.max}, but the manifest has {num_classes} classes")


FOOTER_READERS = 16


def _footer(fs: pyarrow.fs.FileSystem, path: str, where: str) -> pq.FileMetaData:
    try:
        with fs.open_input_file(path) as f:
            return pq.ParquetFile(f).metadata
    except Exception as e:  # noqa: BLE001 - any unreadable footer is a corrupt shard
        raise UserError(f"{where}: unreadable Parquet shard ({e})") from None


def verify_split(folder: str | Path, manifest: Manifest, split: str, *, checksums: bool) -> list[str]:
    """Check a split's shards against the manifest and return their paths in the folder's file
    system (`storage.filesystem`): the folder may be local or a URI's, checked the same way.

    Always: each shard exists, has the recorded size and the recorded row count (Parquet footer:
    a URI's is read by a range request, not the whole shard). With `checksums`, also its sha256
    (reads every byte; cheap for small datasets).
    """
    if split not in manifest.splits:
        raise UserError(f"{storage.join(str(folder), MANIFEST)}: no split {split!r} (has {', '.join(manifest.splits)})")
    fs, root = storage.filesystem(str(folder))
    shards = manifest.splits[split].shards
    paths = [f"{root.rstrip('/')}/{shard.file}" for shard in shards]
    wheres = [storage.join(str(folder), shard.file) for shard in shards]
    for shard, where, found in zip(shards, wheres, storage.info(fs, paths, str(folder))):
        if found.type != pyarrow.fs.FileType.File:
            raise UserError(f"{where}: shard listed in the manifest is missing")
        if found.size != shard.bytes:
            raise UserError(f"{where}: {found.size} bytes, manifest says {shard.bytes}")
    # Footers read side by side: from a bucket each one is a round trip.
    with ThreadPoolExecutor(FOOTER_READERS) as pool:
        footers = list(pool.map(lambda pw: _footer(fs, *pw), zip(paths, wheres)))
    for shard, path, where, footer in zip(shards, paths, wheres, footers):
        if footer.num_rows != shard.rows:
            raise UserError(f"{where}: {footer.num_rows} rows, manifest says {shard.rows}")
        _check_columns(where, footer, manifest.num_classes)
        if checksums and sha256_file(path, fs) != shard.sha256:
            raise UserError(f"{where}: sha256 differs from the manifest; the shard is corrupt, re-run prepare")
    return paths
