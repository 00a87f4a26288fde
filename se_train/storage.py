"""Experiment storage is a local path or a URI (s3://, gs://, NFS path): one way to read and write it."""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any, Callable

import pyarrow
import pyarrow.fs
import pyarrow.parquet

from se_train.errors import UserError, first_line


def is_uri(location: str) -> bool:
    return "://" in location


def normalize(location: str) -> str:
    """A URI stays as is; a local path becomes absolute (Ray needs absolute storage paths)."""
    return location if is_uri(location) else str(Path(location).expanduser().resolve())


def join(location: str, *parts: str) -> str:
    """`parts` below `location`. A URI's query (Ray's form for S3-compatible endpoints, e.g.
    s3://bucket/exp?endpoint_override=http://host:9000) stays at the end, where it belongs."""
    base, sep, query = _split_query(location)
    return "/".join([base.rstrip("/"), *parts]) + sep + query


def parent(location: str) -> str:
    """The folder holding `location`, its URI's query kept."""
    base, sep, query = _split_query(location)
    return base.rstrip("/").rsplit("/", 1)[0] + sep + query


def name(location: str) -> str:
    """The last part of `location`'s path (a folder's or a file's name)."""
    return _split_query(location)[0].rstrip("/").rsplit("/", 1)[-1]


def _split_query(location: str) -> tuple[str, str, str]:
    return location.partition("?") if is_uri(location) else (location, "", "")


LOCAL = pyarrow.fs.LocalFileSystem()


# A store that answers at all answers a metadata call well within this. One that never answers (a
# gs:// bucket without credentials waits on a metadata server; a host behind a dropped route) would
# otherwise hang the command inside pyarrow's C++, where Ctrl-C cannot reach it.
DEADLINE_S = 12.0


_calls: list[threading.Event] = []  # each set when its call has returned


def hung() -> bool:
    """Whether a call to a store is still waiting. Then pyarrow's exit handler (finalising its S3
    client) would wait for it too, for minutes: the CLI leaves without running exit handlers."""
    return not all(done.is_set() for done in _calls)


def _bounded(call: Callable[[], Any], location: str, field: str) -> Any:
    """`call()` against an object store, waited for at most DEADLINE_S in a thread of its own, so
    the main thread stays where Ctrl-C stops it. A store that does not answer in time is one line."""
    outcome: dict[str, Any] = {}
    done = threading.Event()  # not Thread.is_alive: a join that Ctrl-C interrupts marks the thread stopped (Python 3.11)

    def attempt() -> None:
        try:
            outcome["value"] = call()
        except BaseException as e:  # handed to the waiting thread, which raises it
            outcome["error"] = e
        finally:
            done.set()

    _calls.append(done)
    threading.Thread(target=attempt, daemon=True).start()  # daemon: a hung call never holds the exit
    if not done.wait(DEADLINE_S):
        raise UserError(f"{field}{location}: no answer in {DEADLINE_S:g} s (credentials, network or endpoint?)")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def filesystem(location: str, field: str = "") -> tuple[pyarrow.fs.FileSystem, str]:
    """The file system holding `location`, and its path there (a local one made absolute)."""
    if not is_uri(location):  # no URI to parse: a report reads thousands of local files
        return LOCAL, normalize(location)
    try:
        fs, path = _bounded(lambda: pyarrow.fs.FileSystem.from_uri(normalize(location)), location, field)
    except (pyarrow.ArrowInvalid, pyarrow.ArrowNotImplementedError, ValueError) as e:
        raise UserError(f"{field}{location}: no storage handles this ({first_line(e)}); use a local path, file://, s3:// or gs://") from None
    except OSError as e:  # resolving an S3 bucket's region, loading HDFS's JVM, ...
        raise UserError(f"{field}{location}: cannot be reached ({first_line(e)})") from None
    if not isinstance(fs, pyarrow.fs.LocalFileSystem) and not path.strip("/"):
        raise UserError(f"{field}{location}: no bucket; give one, e.g. {location.split('://')[0]}://BUCKET/experiments")
    return fs, path


def check_folder(location: str, field: str) -> None:
    """A folder se-sweep will write into: it is a folder or does not exist yet (it is created),
    its URI scheme is one pyarrow handles, and, on a local disk, it can be written (a probe file
    made and removed in it or in the folder it will be made in). Checked before any work, so a
    sweep, a report or a prepare never fails writing its first file."""
    fs, path = filesystem(location, f"{field}: ")
    kind = info(fs, path, location, f"{field}: ").type
    if kind not in (pyarrow.fs.FileType.Directory, pyarrow.fs.FileType.NotFound):
        raise UserError(f"{field}: {location} is a file, not a folder")
    if isinstance(fs, pyarrow.fs.LocalFileSystem):
        _check_writable(Path(path), location, field)


def _check_writable(path: Path, location: str, field: str) -> None:
    existing = next(p for p in (path, *path.parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"{field}: {location} is below {existing}, a file")
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as e:
        raise UserError(f"{field}: {location} cannot be written ({e.strerror or e} in {existing})") from None


def info(fs: pyarrow.fs.FileSystem, path: str | list[str] | pyarrow.fs.FileSelector, location: str, field: str = ""):
    """What is at `path`; an object store that cannot be reached (no server, refused credentials)
    is one line naming the place (and the field that gave it), not a traceback."""
    try:
        if isinstance(fs, pyarrow.fs.LocalFileSystem):
            return fs.get_file_info(path)
        return _bounded(lambda: fs.get_file_info(path), location, field)
    except OSError as e:
        raise UserError(f"{field}{location}: cannot be reached ({first_line(e)})") from None


def exists(location: str) -> bool:
    fs, path = filesystem(location)
    return info(fs, path, location).type != pyarrow.fs.FileType.NotFound


def read_text(location: str) -> str:
    fs, path = filesystem(location)
    with fs.open_input_stream(path) as f:
        return f.read().decode()


def write_text(location: str, text: str) -> None:
    fs, path = filesystem(location)
    fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
    with fs.open_output_stream(path) as f:
        f.write(text.encode())


def list_names(location: str) -> list[str]:
    """Names of the entries in a folder; empty if it does not exist."""
    fs, path = filesystem(location)
    return [f.base_name for f in info(fs, pyarrow.fs.FileSelector(path, allow_not_found=True), location)]


def read_parquet(location: str) -> pyarrow.Table:
    fs, path = filesystem(location)
    return pyarrow.parquet.read_table(path, filesystem=fs)


def download_file(location: str, local: Path) -> None:
    fs, path = filesystem(location)
    pyarrow.fs.copy_files(path, str(local), source_filesystem=fs, destination_filesystem=LOCAL)


def upload_file(local: Path, location: str) -> None:
    fs, path = filesystem(location)
    pyarrow.fs.copy_files(str(local), path, source_filesystem=LOCAL, destination_filesystem=fs)
