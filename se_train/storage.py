"""Experiment storage is a local path or a URI (s3://, gs://, NFS path): one way to read and write it."""

from __future__ import annotations

from pathlib import Path

import pyarrow.fs

SWEEP_FILE = "sweep.json"  # in the experiment folder: the validated spec and the command that ran it


def normalize(location: str) -> str:
    """A URI stays as is; a local path becomes absolute (Ray needs absolute storage paths)."""
    return location if "://" in location else str(Path(location).expanduser().resolve())


def join(location: str, *parts: str) -> str:
    return "/".join([location.rstrip("/"), *parts])


def _fs(location: str) -> tuple[pyarrow.fs.FileSystem, str]:
    return pyarrow.fs.FileSystem.from_uri(normalize(location))


def exists(location: str) -> bool:
    fs, path = _fs(location)
    return fs.get_file_info(path).type != pyarrow.fs.FileType.NotFound


def read_text(location: str) -> str:
    fs, path = _fs(location)
    with fs.open_input_stream(path) as f:
        return f.read().decode()


def write_text(location: str, text: str) -> None:
    fs, path = _fs(location)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(text.encode())


def list_names(location: str) -> list[str]:
    """Names of the entries in a folder; empty if it does not exist."""
    fs, path = _fs(location)
    return [f.base_name for f in fs.get_file_info(pyarrow.fs.FileSelector(path, allow_not_found=True))]
