"""A `data_root` may be an object-store URI (s3://, gs://, with Ray's `?endpoint_override=` form
for S3-compatible servers): then every node needs no shared disk. The checks before Ray read the
manifest and the shards' footers from the URI itself; nothing is copied to the driver. Each
machine that trains keeps a local copy of the splits its trials hold in memory, fetched once and
again only when the stored manifest changes (the manifest lists every shard's checksum, so an equal
manifest is the same data); the data code reads that copy as it reads any prepared folder, and
checks it the same way. A split too large to hold streams through Ray Data straight from the URI.

`prepare` into a URI prepares in the local copy's place, then uploads: the machine that prepared
has its copy already.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
from contextlib import contextmanager
from pathlib import Path

from se_train import storage
from se_train.data.manifest import MANIFEST, parse_manifest
from se_train.errors import UserError

CACHE_ENV = "SE_SWEEP_DATA_CACHE"  # where the local copies go; default ~/.cache/se-sweep/data


def local_root(data_root: str) -> Path:
    """The local folder holding `data_root`'s datasets: itself, or the copies of a URI's."""
    if not storage.is_uri(data_root):
        return Path(data_root).expanduser().resolve()
    cache = Path(os.environ.get(CACHE_ENV, "~/.cache/se-sweep/data")).expanduser()
    return cache / hashlib.sha256(data_root.encode()).hexdigest()[:16]


def is_prepared(data_root: str, name: str) -> bool:
    return storage.exists(storage.join(data_root, name, MANIFEST))


def location(data_root: str, name: str) -> str:
    """Where dataset `name` is stored: its local folder, or its URI."""
    return storage.join(data_root, name) if storage.is_uri(data_root) else str(local_root(data_root) / name)


def fetch(data_root: str, name: str, splits: list[str]) -> Path:
    """Dataset `name`'s local folder, holding at least `splits`: from a URI `data_root`, the
    shards of those splits this machine's copy lacks are fetched (none if it has the copy the
    stored manifest describes), then the manifest. Trials on one machine fetch between them once."""
    local = local_root(data_root) / name
    if not storage.is_uri(data_root):
        return local
    remote = storage.join(data_root, name)
    if not is_prepared(data_root, name):
        raise UserError(f"{remote}: not a prepared dataset (no {MANIFEST}); run `se-sweep prepare {name} --data-root {data_root}`")
    stored = storage.read_text(storage.join(remote, MANIFEST))
    manifest = parse_manifest(stored, storage.join(remote, MANIFEST))
    with _locked(local):
        if not ((local / MANIFEST).is_file() and (local / MANIFEST).read_text() == stored):
            shutil.rmtree(local, ignore_errors=True)  # another version's copy, or none
        for shard in (shard for split in splits for shard in manifest.splits[split].shards):
            path = local / shard.file
            if path.is_file() and path.stat().st_size == shard.bytes:
                continue
            partial = path.with_name(f".{path.name}.fetching")  # a cut fetch leaves no shard behind
            partial.parent.mkdir(parents=True, exist_ok=True)
            storage.download_file(storage.join(remote, shard.file), partial)
            partial.replace(path)
        (local / MANIFEST).write_text(stored)
    return local


def upload(data_root: str, name: str) -> None:
    """Put the dataset prepared in `local_root(data_root)` at the URI, the manifest last: a
    dataset whose upload stopped has no manifest there, so it reads as not prepared."""
    local = local_root(data_root) / name
    remote = storage.join(data_root, name)
    for path in sorted(p for p in local.rglob("*") if p.is_file() and p.name != MANIFEST):
        storage.upload_file(path, storage.join(remote, *path.relative_to(local).parts))
    storage.upload_file(local / MANIFEST, storage.join(remote, MANIFEST))


@contextmanager
def _locked(folder: Path):
    """One fetch at a time per dataset on this machine (trials in parallel share the copy)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.with_name(f".{folder.name}.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
