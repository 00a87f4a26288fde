"""`se-sweep prepare`: a published dataset to `DIR/NAME/{manifest.json, train|valid|test/*.parquet}`.

Everything is written into `DIR/.NAME.partial/` and renamed to `DIR/NAME` only once the manifest
is written, so a folder with a manifest is always complete and an interrupted prepare never leaves
one that lies. A finished prepare is not redone; an interrupted ImageNet prepare keeps its shards.
"""

from __future__ import annotations

import gzip
import os
import shutil
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from se_train.data import readers, remote
from se_train.data.imagefolder import list_image_folder, plan_shards, write_image_split
from se_train.data.manifest import (
    FORMAT_VERSION,
    MANIFEST,
    Manifest,
    SplitInfo,
    load_manifest,
    shard_info,
    write_manifest,
)
from se_train.data.pixel_stats import PixelStats
from se_train.data.shards import DEFAULT_SHARD_BYTES, write_array_split
from se_train import storage
from se_train.validation import PLAIN_NAME
from se_train.data.sources import FOLDER_TREE, IMAGE_FOLDER, SOURCES, Source
from se_train.errors import UserError


# What a reader raises on a file that ends early or is damaged, whatever its format.
INCOMPLETE_FILE_ERRORS = (EOFError, zlib.error, gzip.BadGzipFile, tarfile.TarError, zipfile.BadZipFile)


@dataclass(frozen=True)
class Options:
    """How a source is split and stored. The split sizes default to the source's own."""

    seed: int = 0  # of the stratified valid (and test) carve
    valid_size: int | None = None
    test_size: int | None = None
    shard_bytes: int = DEFAULT_SHARD_BYTES
    resize: int | None = None  # image folders: re-encode to this shorter side
    skip_bad: bool = False  # image folders: skip unreadable images
    workers: int | None = None  # image folders: conversion processes


def carve(labels: np.ndarray, size: int, seed: int, what: str) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split of indices into (rest, carved), each in source order."""
    if size <= 0:
        return np.arange(len(labels)), np.arange(0)
    if size >= len(labels):
        raise UserError(f"{what}: cannot carve {size} images from a split of {len(labels)}")
    rest, carved = train_test_split(np.arange(len(labels)), test_size=size, stratify=labels, random_state=seed)
    return np.sort(rest), np.sort(carved)


def _check_options(name: str, spec: Source, source: Path | None, download: bool, opts: Options) -> None:
    """Options that mean nothing for this dataset are refused, not ignored: a user who passed one
    expected it to do something."""
    if source is not None and download:
        raise UserError("--source and --download: give one (--download fetches what --source points at)")
    if download and spec.download is None:
        raise UserError(f"--download: {name} has no download; pass --source")
    if source is not None and not spec.needs_source:
        raise UserError(f"--source: {name} needs none (it ships with its package)")
    if opts.test_size is not None and not spec.test_size and spec.share is None:
        raise UserError(f"--test-size: {name} has its own test split; only sources without one carve a test split")
    if spec.read is not None:
        for flag, value in (("--resize", opts.resize), ("--skip-bad", opts.skip_bad), ("--workers", opts.workers)):
            if value:
                raise UserError(f"{flag}: only for image-folder datasets (imagenet, {IMAGE_FOLDER}); {name} is read whole in memory")


def _resolve_source(name: str, spec: Source, source: Path | None, download: bool, data_root: Path) -> Path | None:
    if source is not None:
        if not source.exists():
            raise UserError(f"--source {source}: no such file or folder")
        return source
    if download:
        return spec.download(data_root / "downloads")
    if spec.found() is not None:
        return spec.found()
    if spec.needs_source:
        hint = " or --download" if spec.download else ""
        raise UserError(f"{name}: pass --source PATH{hint} (nothing found at a default location)")
    return None


def prepare(name: str, data_root: Path | str, *, source: Path | None = None, download: bool = False, image_folder: bool = False,
            **options) -> Path:
    """Prepare dataset `name` under `data_root` (a folder, or a URI: see `remote`) and return its
    local folder; a no-op if already done. `image_folder`: `name` is the user's own, read from the
    class-per-folder tree at `source`. `options`: the fields of `Options`."""
    if image_folder:
        if name in SOURCES or name == IMAGE_FOLDER or not PLAIN_NAME.fullmatch(name):
            raise UserError(f"--name {name!r}: give the dataset a plain name of its own (letters, digits, _ . -), not one of {', '.join(SOURCES)}")
        if source is None:
            raise UserError(f"prepare {IMAGE_FOLDER}: pass --source DIR, a folder of one subfolder of images per class")
    elif name not in SOURCES:
        raise UserError(f"dataset {name!r} is not one of {', '.join([*SOURCES, IMAGE_FOLDER])} "
                        f"(`prepare {IMAGE_FOLDER} --source DIR --name NAME` prepares your own image folder)")
    spec, opts, data_root = FOLDER_TREE if image_folder else SOURCES[name], Options(**options), str(data_root)
    _check_options(name, spec, source, download, opts)
    storage.check_folder(data_root, "--data-root")
    target = storage.join(data_root, name)
    if remote.is_prepared(data_root, name):
        manifest = load_manifest(remote.location(data_root, name))
        if manifest.seed != opts.seed:
            raise UserError(f"{target}: already prepared with seed {manifest.seed}; remove it to re-prepare with {opts.seed}")
        return remote.local_root(data_root) / name
    if storage.exists(target) and not storage.is_uri(data_root):  # (a URI's folder is just a prefix)
        raise UserError(f"{target}: exists but has no {MANIFEST}; remove it and prepare again")
    local = remote.local_root(data_root)  # a URI's datasets are prepared where its local copies go
    src = _resolve_source(name, spec, source, download, local)
    if spec.share is None:  # an image folder's sizes follow its own size
        opts = replace(opts, valid_size=spec.valid_size if opts.valid_size is None else opts.valid_size,
                       test_size=spec.test_size if opts.test_size is None else opts.test_size)
    stage = local / f".{name}.partial"
    if spec.read is None:
        manifest = _prepare_image_folder(name, src, stage, opts, spec.share)
    else:
        if stage.exists():  # in-memory sources are quick to redo; start clean
            shutil.rmtree(stage)
        try:
            raw = spec.read(src)
        except INCOMPLETE_FILE_ERRORS as e:  # a truncated download or copy, in any reader
            raise UserError(f"{src}: not a complete {name} source file ({type(e).__name__}: {e})") from None
        manifest = _prepare_arrays(name, raw, str(src or name), stage, opts)
    write_manifest(stage, manifest)
    shutil.rmtree(local / name, ignore_errors=True)  # a URI's stale local copy
    os.replace(stage, local / name)
    if storage.is_uri(data_root):
        remote.upload(data_root, name)
    return local / name


def _image_splits(name: str, source: Path, opts: Options, share: float | None) -> dict:
    """Each split's (image, label) files and the class names. ImageNet (no `share`): train/, valid
    carved from it, test = val/. Any other tree: train/ (or the folder itself), and val/ and test/
    where present, else `share` of the images carved for each, stratified by class."""
    listed = []  # (files, classes, skipped) of each folder read

    def listing(folder: Path, classes: list[str] | None = None, exclude: set[str] = frozenset()) -> tuple[list, list[str]]:
        listed.append(list_image_folder(folder, classes, exclude, opts.skip_bad))
        return listed[-1][:2]

    if share is None:
        train, classes = listing(source / "train")
        given = {"test": listing(source / "val", classes)[0]}
    else:
        root = source / "train" if (source / "train").is_dir() else source
        train, classes = listing(root, exclude={"val", "test"} if root == source else set())
        given = {split: listing(source / folder, classes)[0]
                 for split, folder in (("valid", "val"), ("test", "test")) if root != source and (source / folder).is_dir()}
    skipped = sum(n for _, _, n in listed)
    if skipped:
        print(f"{name}: skipped {skipped} entries of {source} that cannot be read as images (links that loop or point nowhere, "
              "special files, names that are not UTF-8; --skip-bad)")
    for split, size in (("test", opts.test_size), ("valid", opts.valid_size)):
        if split in given:
            continue
        labels = np.array([label for _, label, _ in train])
        rest, carved = carve(labels, size if size is not None else max(len(classes), round(share * len(train))), opts.seed, f"{name} {split}")
        given[split] = [train[i] for i in carved]
        train = [train[i] for i in rest]
    return {"train": train, "valid": given["valid"], "test": given["test"], "classes": classes}


def _prepare_arrays(name: str, raw: readers.RawDataset, source: str, stage: Path, opts: Options) -> Manifest:
    train = raw.splits["train"]
    splits = dict(raw.splits)
    if "test" not in splits:
        rest, test = carve(train.labels, opts.test_size, opts.seed, f"{name} test")
        splits["test"] = readers.Split(train.images[test], train.labels[test])
        train = readers.Split(train.images[rest], train.labels[rest])
    rest, valid = carve(train.labels, opts.valid_size, opts.seed, f"{name} valid")
    splits["valid"] = readers.Split(train.images[valid], train.labels[valid])
    splits["train"] = readers.Split(train.images[rest], train.labels[rest])

    infos = {}
    for split in ("train", "valid", "test"):
        paths = write_array_split(stage, split, splits[split].images, splits[split].labels, opts.shard_bytes)
        infos[split] = SplitInfo(rows=len(splits[split].labels), shards=[shard_info(stage, p) for p in paths])
    mean, std = PixelStats.of(splits["train"].images).mean_std()
    shape = splits["train"].images.shape[1:]
    return Manifest(
        format_version=FORMAT_VERSION,
        name=name,
        num_classes=len(raw.class_names),
        class_names=raw.class_names,
        image_shape=shape,
        channels=shape[-1],
        encoding="raw",
        mean=mean,
        std=std,
        seed=opts.seed,
        source=source,
        splits=infos,
    )


def _prepare_image_folder(name: str, source: Path, stage: Path, opts: Options, share: float | None) -> Manifest:
    files = _image_splits(name, source, opts, share)
    classes = files.pop("classes")
    workers = opts.workers or os.cpu_count() or 1
    infos, summaries = {}, {}
    for split, split_files in files.items():
        jobs = plan_shards(stage, split, split_files, opts.shard_bytes, opts.resize, opts.skip_bad)
        summaries[split] = write_image_split(jobs, workers, f"{name} {split}")
        shards = [shard_info(stage, job.path) for job in jobs]
        infos[split] = SplitInfo(rows=sum(s.rows for s in shards), shards=shards)
    skipped = sum(s.skipped for s in summaries.values())
    if skipped:
        print(f"{name}: skipped {skipped} unreadable images (--skip-bad)")
    every = summaries["train"] + summaries["valid"] + summaries["test"]
    channels = 1 if every.grey else 3  # one only if every image of every split is greyscale
    mean, std = summaries["train"].stats.mean_std()  # RGB: a greyscale image's three channels are its one
    (width, height), = every.sizes if len(every.sizes) == 1 else ((None, None),)
    return Manifest(
        format_version=FORMAT_VERSION,
        name=name,
        num_classes=len(classes),
        class_names=classes,
        image_shape=(height, width, channels) if height else None,  # one size for every image: no image_size needed
        channels=channels,
        encoding="image",
        mean=mean[:channels],
        std=std[:channels],
        seed=opts.seed,
        source=str(source),
        splits=infos,
    )
