"""Every use of Ray's private API, in one place: what se-sweep needs that Ray offers no public way
to do. Each is checked against Ray 2.60 (pinned to 2.60.x in pyproject.toml) and says why it is
needed; a Ray upgrade reviews this module, and the tests that exercise each use fail if one moves.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ray import tune


def enable_token_auth_if_found() -> None:
    """Ray 2.60, ray._private.authentication: the helper `ray start` uses to turn token mode on
    when a token is found (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH, ~/.ray/auth_token). ray.init sends a
    token only to a cluster it finds itself; given an address it sends none unless this is on."""
    from ray._private.authentication.authentication_token_setup import maybe_enable_token_auth_if_token_available

    maybe_enable_token_auth_if_token_available(warn_if_disabled=False)


def probe_gcs(address: str) -> None:
    """Ray 2.60, ray._raylet.GcsClient: one request to a cluster's GCS, raising
    ray.exceptions.AuthenticationError for a refused token in 0.5 s (ray.init retries 20 s)."""
    from ray._raylet import GcsClient

    GcsClient(address=address)


def searcher(tuner: tune.Tuner) -> Any:
    """Ray 2.60, Tuner._local_tuner._tune_config.search_alg: the searcher a Tuner runs. A restored
    Tuner keeps the searcher it was pickled with and Tune has no API to read or replace it."""
    return tuner._local_tuner._tune_config.search_alg


def replace_searcher(tuner: tune.Tuner, search_alg: Any) -> None:
    """Ray 2.60: the same field, set (a restored sweep's searcher wrapped, `seeds.ReopenedSeeds`)."""
    tuner._local_tuner._tune_config.search_alg = search_alg


def reporter(tuner: tune.Tuner) -> Any:
    """Ray 2.60, Tuner._local_tuner._run_config.progress_reporter: the live view a restored Tuner
    unpickled, to hand it the searcher it reads (no public accessor)."""
    return tuner._local_tuner._run_config.progress_reporter


def quiet_checkpoint_log() -> None:
    """Ray 2.60, logger ray.train._internal.storage: logs "Checkpoint successfully created" for
    every epoch of every trial, flooding a sweep's output where its table shows the progress."""
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)


def quiet_report_log() -> None:
    """Ray 2.60, ray.train.v2._internal.execution.context: logs "Reporting training result" with
    every metric, every epoch, from every DDP worker. Its logger is named by the module's file path,
    not `ray.train...`, so `LoggingConfig(log_level=...)` does not reach it."""
    from ray.train.v2._internal.execution import context

    logging.getLogger(context.__file__).setLevel(logging.WARNING)


# Tune's saved state (`tune_state.repair`). Ray 2.60: the state file's `trial_data`
# is pairs of (trial JSON, run-metadata JSON); the metadata is a `_TrainingRunMetadata` whose
# `_CheckpointManager` holds `_latest_checkpoint_result` and `_checkpoint_results`, each a
# `_TrainingResult`. No public API edits a saved state.

def run_metadata(json_state: str) -> Any:
    from ray.tune.trainable.metadata import _TrainingRunMetadata

    return _TrainingRunMetadata.from_json_state(json_state)


def training_result(checkpoint: Any, metrics: dict) -> Any:
    from ray.train._internal.session import _TrainingResult

    return _TrainingResult(checkpoint=checkpoint, metrics=metrics)


def set_latest_checkpoint(manager: Any, result: Any | None) -> None:
    """The checkpoint a trial resumes from: `result`, or none (it starts again)."""
    manager._latest_checkpoint_result, manager._checkpoint_results = result, [result] if result else []


def atomic_local_uploads() -> None:
    """Ray 2.60, ray.train._internal.storage._upload_to_fs_path: how Tune's driver copies its staged
    experiment state (experiment_state-*.json, the searcher's state, the trials' logs) into storage,
    after every snapshot. On a local disk pyarrow writes each file in place, so a driver killed
    mid-copy leaves an empty experiment_state file, and the sweep can no longer be resumed (seen in
    tests/test_seeds.py's killed driver). Here a local copy goes to a file beside its destination,
    renamed over it: a reader sees the old file or the new one, never a part; a trial's log this
    driver copied is not copied again until it changes. Object stores (S3, GCS) publish an upload only
    once it is complete, and keep Ray's own copy. Done in the driver before Tune starts; idempotent."""
    from ray.train._internal import storage as train_storage

    global _ray_upload
    if _ray_upload is None:
        _ray_upload = train_storage._upload_to_fs_path
        train_storage._upload_to_fs_path = _atomic_upload


_ray_upload = None  # Ray's own upload, once replaced
# Each trial log's source as this driver last copied it (size, mtime): Tune uploads every staged
# file at every snapshot, and a finished trial's logs never change again; copying them all each
# time made 300 one-epoch trials' uploads grow with the square of the trials (py-spy, `bench
# scale`: 3.4x its plain loops, 1.5x without). Module-level, as the function: Tune pickles its
# storage context into each trial's state, and a module's function goes by name, not by value.
_copied: dict = {}


def _atomic_upload(local_path: str, fs, fs_path: str, exclude: list | None = None) -> None:
    import os
    import shutil
    from pathlib import Path

    import pyarrow.fs
    from ray.train._internal import storage as train_storage

    if exclude or not isinstance(fs, pyarrow.fs.LocalFileSystem):
        return (_ray_upload or train_storage._upload_to_fs_path)(local_path, fs, fs_path, exclude)  # Ray's own, where not replaced
    source, target = Path(local_path), Path(fs_path)
    pairs = [(source, target)] if source.is_file() else [(f, target / f.relative_to(source)) for f in sorted(source.rglob("*"))]
    (target.parent if source.is_file() else target).mkdir(parents=True, exist_ok=True)
    for src, dst in pairs:
        if src.is_dir():
            dst.mkdir(parents=True, exist_ok=True)
            continue
        made = src.stat()
        # The experiment's own files (its state, rewritten in place at every snapshot) are always
        # copied; a trial's logs in its folder only grow, so their size and time tell a change.
        if src.parent != source and _copied.get(dst) == (made.st_size, made.st_mtime_ns) and dst.exists():
            continue  # copied by this driver, and not changed since
        dst.parent.mkdir(parents=True, exist_ok=True)
        part = dst.with_name(f".{dst.name}.part")
        shutil.copyfile(src, part)
        os.replace(part, dst)
        _copied[dst] = (made.st_size, made.st_mtime_ns)


def driver_staging(experiment_name: str) -> list[Path]:
    """Ray 2.60, ray.train._internal.storage.StorageContext.experiment_driver_staging_path: where
    this machine's drivers of the experiment, in the Ray session it is connected to, staged the
    trials' logs (`<session>/artifacts/<timestamp>/<name>/driver_artifacts`). A restored Tuner keeps
    its first driver's timestamp, and Tune's loggers append to a staged log they find there."""
    from ray.train.constants import _get_ray_train_session_dir

    return sorted(Path(_get_ray_train_session_dir()).glob(f"*/{experiment_name}/driver_artifacts"))


def reopen_search(generator: Any, at_least: int, more_to_come: bool) -> None:
    """Ray 2.60, ray.tune.search.search_generator.SearchGenerator: its trial budget
    (`_total_samples`) and its "finished" flag are saved with Tune's state and have no setter; a
    restored sweep whose searcher has more to give raises the one and clears the other."""
    generator._total_samples = max(generator._total_samples, at_least)
    generator._finished = generator._finished and not more_to_come


def torch_trainer(train_fn: Any, **kwargs: Any) -> Any:
    """Ray 2.60, ray.train.v2: a `TorchTrainer` whose controller starts Ray Data's `DatasetManager`
    actor only when the trainer is given a dataset to stream. `_create_default_callbacks` always
    adds a `DatasetsCallback`, which starts that actor (a process importing Ray Data, 3.7 CPU-s,
    measured with benchmarks/cpu_by_process.py) for every worker group, datasets or none: a DDP
    trial whose splits are all held in memory streams nothing. Imported here: a sweep of one-worker
    trials never builds a Ray Train run."""
    from ray.train.torch import TorchTrainer
    from ray.train.v2._internal.callbacks.datasets import DatasetsCallback

    class StreamingOnlyTorchTrainer(TorchTrainer):
        def _create_default_callbacks(self) -> list:
            callbacks = super()._create_default_callbacks()
            return callbacks if self.datasets else [c for c in callbacks if not isinstance(c, DatasetsCallback)]

    return StreamingOnlyTorchTrainer(train_fn, **kwargs)


def wandb_logger(**options: Any) -> tune.Callback:
    """Ray 2.60, ray.air.integrations.wandb: Tune's `WandbLoggerCallback`, with its logging actor
    (`_logger_actor_cls`, a `_WandbLoggingActor`) made to wait for W&B's service before it ends.
    Tune kills that actor as soon as its `run()` returns from `wandb.finish()`, so W&B's exit hook,
    which waits for the service to write every record, never runs: on a loaded machine the last
    trial's offline run kept its header alone (tests/test_tracking.py, once in the suite).
    `wandb.teardown()` is that wait, called before `run()` returns. Imported here, not at the
    module's top: Ray's integration imports wandb, which a sweep without W&B does not need."""
    from ray.air.integrations.wandb import WandbLoggerCallback, _WandbLoggingActor

    class WrittenLoggingActor(_WandbLoggingActor):
        def run(self) -> None:
            super().run()
            self._wandb.teardown()

    class WrittenWandbLogger(WandbLoggerCallback):
        _logger_actor_cls = WrittenLoggingActor

    return WrittenWandbLogger(**options)
