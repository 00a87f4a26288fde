"""A `data_root` may be an object-store URI (s3://, gs://, with Ray's `?endpoint_override=` form
for S3-compatible servers): then every node needs no shared disk. Each machine keeps a local copy
of each dataset it trains on, fetched once and again only when the stored manifest changes (the
manifest lists every shard's checksum, so an equal manifest is the same data). The data code reads
that copy as it reads any prepared folder, and checks it the same way.

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
from se_train.data.manifest import MANIFEST
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


def fetch(data_root: str, name: str) -> Path:
    """Dataset `name`'s local folder, fetched from a URI `data_root` unless this machine already
    has the copy its stored manifest describes. Trials on one machine fetch it once between them."""
    local = local_root(data_root) / name
    if not storage.is_uri(data_root):
        return local
    remote = storage.join(data_root, name)
    if not is_prepared(data_root, name):
        raise UserError(f"{remote}: not a prepared dataset (no {MANIFEST}); run `se-sweep prepare {name} --data-root {data_root}`")
    stored = storage.read_text(storage.join(remote, MANIFEST))
    with _locked(local):
        if not ((local / MANIFEST).is_file() and (local / MANIFEST).read_text() == stored):
            partial = local.with_name(f".{name}.fetching")
            shutil.rmtree(partial, ignore_errors=True)
            storage.download(remote, partial)
            shutil.rmtree(local, ignore_errors=True)
            partial.rename(local)
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
