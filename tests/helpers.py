"""Helpers shared by the tests that run real sweeps."""

from __future__ import annotations

import io
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import psutil
import yaml

from se_train.sweep_file import parse_sweep
from se_train.sweep import runner

HANG_TIMEOUT_S = 600  # far above a healthy run; only a hang reaches it
T = TypeVar("T")
S3_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@contextmanager
def s3_server() -> Iterator[str]:
    """moto's S3 API server on a free local port, as Ray's own tests run it; its endpoint URL."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def sweep_file(tmp_path: Path, name: str, grid: dict, train: dict | None = None, resources: dict | None = None,
               search: dict | None = None) -> Path:
    searched = set(search or {}) - {"samples", "epochs", "seeds"}  # a searched field is set nowhere else
    raw = {
        "name": name,
        "data_root": str(tmp_path / "data"),
        "storage": str(tmp_path / "experiments"),
        "grid": {"model": ["simple_cnn"], "dataset": ["digits"], "activation": ["relu"], "se": [False], **grid},
        "train": {k: v for k, v in {"epochs": 2, "lr": 1e-3, "schedule": "constant", **(train or {})}.items() if k not in grid and k not in searched},
        "resources": {"workers_per_trial": 1, "cpus_per_worker": 1, **(resources or {})},
        **({"search": search} if search else {}),
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def run_with_hang_guard(path: Path, **kwargs) -> Path:
    """Run a sweep in this process, on its session's Ray; fail (instead of hanging the suite) if
    it never finishes."""
    spec = parse_sweep(yaml.safe_load(path.read_text()), str(path))
    return Path(_guarded(lambda: runner.run_sweep(spec, str(path), **kwargs)))


def se_sweep_here(*args: str) -> tuple[int, str, str]:
    """`se-sweep ARGS` in this process, on its session's Ray (a driver process more would import
    torch and Ray again: ~4 CPU-s), hang-guarded: its exit status, and what it printed."""
    from se_train.cli import main

    out, err = io.StringIO(), io.StringIO()

    def call() -> int:
        with redirect_stdout(out), redirect_stderr(err):
            return main(list(args))

    return _guarded(call), out.getvalue(), err.getvalue()


def _guarded(work: Callable[[], T]) -> T:
    """`work()` in a thread, its error re-raised here; fail if it has not returned in HANG_TIMEOUT_S."""
    out: dict = {}

    def target():
        try:
            out["value"] = work()
        except BaseException as e:  # noqa: BLE001 - re-raised in the test thread
            out["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(HANG_TIMEOUT_S)
    assert not thread.is_alive(), f"not finished in {HANG_TIMEOUT_S} s: a hang (see the trials' logs)"
    if "error" in out:
        raise out["error"]
    return out["value"]


def wait_for(condition: Callable[[], T], what: str, timeout_s: float = HANG_TIMEOUT_S) -> T:
    """The first truthy value of `condition`, polled every 50 ms: a test that kills a process does
    it at an event (a checkpoint written, an epoch reported), not after a fixed sleep."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if value := condition():
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def running_children(parent: psutil.Process, *parts: str, recursive: bool = False) -> list[psutil.Process]:
    """`parent`'s children still running whose command line holds one of `parts` (Ray retitles a
    worker `ray::<its actor>`). A child that ends while they are read, or has ended and awaits
    its parent's wait (a zombie, whose command line can no longer be read), is not running."""
    found = []
    for child in parent.children(recursive=recursive):
        try:
            if child.status() != psutil.STATUS_ZOMBIE and any(part in " ".join(child.cmdline()) for part in parts):
                found.append(child)
        except psutil.Error:
            pass
    return found


def trial_progress(experiment: Path) -> dict[str, pd.DataFrame]:
    return {
        p.parent.name: pd.read_csv(p)
        for p in sorted(experiment.glob("*/progress.csv"))
        if p.stat().st_size > 0
    }


def tensorboard_scalars(path: Path) -> dict[str, list[tuple[int, float]]]:
    """Tag -> [(step, value)] of a TensorBoard event file, read as TensorBoard reads it: TFRecord
    frames (length, crc, Event proto, crc) decoded with tensorboardX's Event message."""
    from tensorboardX.proto import event_pb2

    data, i, scalars = path.read_bytes(), 0, {}
    while i < len(data):
        (n,) = struct.unpack("<Q", data[i : i + 8])
        event = event_pb2.Event()
        event.ParseFromString(data[i + 12 : i + 12 + n])
        i += 12 + n + 4
        for value in event.summary.value:
            scalars.setdefault(value.tag, []).append((event.step, value.simple_value))
    return scalars


def digits_as_png(root: Path, per_class: int | None = None) -> Path:
    """scikit-learn's real 8x8 digits as PNG files, one folder per class (digit0..digit9) under
    `root`: an image folder of one's own; `per_class` keeps the first so many of each class."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    counts: dict[int, int] = {}
    for i, (image, label) in enumerate(zip(digits.images, digits.target)):
        if per_class is not None and counts.get(label, 0) >= per_class:
            continue
        counts[label] = counts.get(label, 0) + 1
        folder = root / f"digit{label}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray((image * 255 / 16).astype(np.uint8)).save(folder / f"{i:04d}.png")
    return root
