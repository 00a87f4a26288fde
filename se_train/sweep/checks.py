"""The checks of a sweep before Ray starts, where they are cheap: every dataset is prepared (or
preparable unattended), its small splits match their checksums, its images fit the trials'
settings."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from se_train import storage, wandb_tracking
from se_train.blocks import Resources, Tracking
from se_train.config import SweepSpec
from se_train.data import remote
from se_train.data.manifest import Manifest, load_manifest, verify_split
from se_train.data.sources import SOURCES
from se_train.errors import UserError, first_line
from se_train.mlflow_runs import check_server
from se_train.validation import where

# Local splits up to this size are hashed whole before Ray starts. A URI's are not: that would
# download them to the driver; the object store checks its own transfers.
CHECKSUM_MAX_BYTES = 2 * 2**30


@dataclass(frozen=True)
class Preflight:
    """What the checks before Ray found, for the sweep to start from."""

    experiment: str  # the experiment's folder or URI: <storage>/<name>
    data_root: str  # normalised
    manifests: dict[str, Manifest]  # each dataset's, as prepared (a dry run: those already prepared)
    tracking: Tracking  # the file's, with --mlflow and the MLflow experiment's default name


def preflight(spec: SweepSpec, source: str, *, storage_uri: str | None = None, data_root: str | None = None, address: str | None = None,
              num_cpus: int | None = None, mlflow: str | None = None, prepare_missing: bool = True) -> Preflight:
    """Every check `run` makes before Ray starts, the cheap ones first (storage, CPUs, the trackers),
    then the datasets (a missing one prepared, unless a dry run: `prepare_missing` False) and each
    plugin model built on torch's meta device. `run`, `--dry-run` and `resume` all call this: a dry
    run refuses what `run` would, and a resume what has changed since (`data_root`: the one the
    sweep recorded)."""
    root = check_storage(spec, source, storage_uri)
    check_local_cpus(spec.resources, source, address, num_cpus)
    tracking = spec.tracking.model_copy(update={"mlflow": mlflow or spec.tracking.mlflow, "experiment": spec.tracking.experiment or spec.name})
    if tracking.mlflow:
        check_server(tracking.mlflow, source)
    if tracking.wandb:
        wandb_tracking.check(source)
    data_root = storage.normalize(data_root or spec.data_root)
    manifests = ready_datasets(spec, source, data_root, prepare_missing)
    check_models_build(spec, source, manifests)
    return Preflight(storage.join(root, spec.name), data_root, manifests, tracking)


def ready_datasets(spec: SweepSpec, source: str, data_root: str, prepare_missing: bool = True) -> dict[str, Manifest]:
    """Every dataset of the grid is prepared (digits and other input-free ones are prepared here,
    unless not `prepare_missing`: a dry run leaves them to `run`), its shards are the manifest's
    (a local dataset's small splits by their checksums too), and its images fit the trials'
    settings. Read where the data is, a URI's too: nothing is copied to the driver. Each
    dataset's manifest, read once for every check before Ray."""
    trials = spec.trials()
    if storage.is_uri(data_root):
        storage.check_folder(data_root, f"{source}: data_root")  # its scheme, and that it answers
    elif Path(data_root).exists() and not Path(data_root).is_dir():
        raise UserError(f"{source}: data_root: {data_root} is a file, not a folder")
    manifests = {}
    for name in dict.fromkeys(t.dataset for t in trials):
        folder = Path(data_root) / name
        if not storage.is_uri(data_root) and folder.exists() and not folder.is_dir():
            raise UserError(f"{source}: {_dataset_field(spec, name)}: {folder} is a file, not a dataset folder")
        if not remote.is_prepared(data_root, name):
            auto = SOURCES.get(name)
            if auto is None or not auto.unattended():
                how = f"prepare {name}" if auto else f"prepare imagefolder --source DIR --name {name}"  # a name of one's own
                raise UserError(f"{source}: {_dataset_field(spec, name)}: {name!r} is not prepared in {data_root} "
                                f"(run `se-sweep {how} --data-root {data_root}`)")
            if not prepare_missing:
                print(f"{name}: not prepared yet; `run` prepares it in {data_root}")
                continue
            from se_train.data.prepare import prepare  # scikit-learn: only when a dataset is prepared

            print(f"preparing {name} in {data_root} ...")
            prepare(name, data_root)
        where = remote.location(data_root, name)
        manifest = manifests[name] = load_manifest(where)
        for t in (t for t in trials if t.dataset == name):
            try:
                manifest.stored_shape(t.image_size)
            except UserError as e:
                raise UserError(f"{source}: {_dataset_field(spec, name)}: {e}") from None
        for split in manifest.splits:  # hashing every byte is cheap for small local splits only
            hashed = not storage.is_uri(data_root) and manifest.splits[split].bytes <= CHECKSUM_MAX_BYTES
            verify_split(where, manifest, split, checksums=hashed)
    return manifests


def check_models_build(spec: SweepSpec, source: str, manifests: dict[str, Manifest]) -> None:
    """A plugin's model that raises as it is built is one line naming its cell, before Ray: each
    distinct build is tried once on torch's meta device (shapes only, no memory, no weights), for
    its dataset's manifest, or for a dataset a dry run leaves to `run` as its source reads. The
    built-in models are tested; a sweep of only those imports no torch here."""
    from se_train.models.catalog import get_model

    tried = set()
    shapes = {name: (lambda size, m=m: (m.num_classes, m.input_shape(size))) for name, m in manifests.items()}
    for i, cfg in enumerate(spec.trials()):
        if isinstance(get_model(cfg.model).builder, str):
            continue
        if cfg.dataset not in shapes:
            shapes[cfg.dataset] = _as_prepared(cfg.dataset)
        classes, shape = shapes[cfg.dataset](cfg.image_size)
        key = (cfg.model, shape, cfg.activation, cfg.se, tuple(sorted(cfg.option_fields().items())))
        if key in tried:
            continue
        tried.add(key)
        import torch

        from se_train.models.registry import build_model

        try:
            with torch.device("meta"):
                build_model(cfg.model, num_classes=classes, input_shape=shape, activation=cfg.activation,
                            se=cfg.se, **cfg.option_fields())
        except Exception as e:  # noqa: BLE001 - whatever a user's model raises
            raise UserError(f"{source}: trial[{i}]: model {cfg.model!r} fails to build for {cfg.dataset} "
                            f"({type(e).__name__}: {first_line(e)})") from None


def _as_prepared(name: str):
    """What gives a model its shape, image_size -> (classes, (channels, height, width)), as
    `prepare` will record it for a dataset it prepares unattended (digits; Debian's Fashion-MNIST):
    read from its source as `prepare` reads it, writing nothing (`Manifest.input_shape`'s rule)."""
    raw = SOURCES[name].read(SOURCES[name].found())
    height, width, channels = raw.splits["train"].images.shape[1:]
    return lambda size: (len(raw.class_names), (channels, size or height, size or width))


def check_storage(spec: SweepSpec, source: str, storage_uri: str | None) -> str:
    """The storage root the sweep writes under (`--storage`, else the file's), checked writable."""
    root = storage.normalize(storage_uri or spec.storage)
    storage.check_folder(root, "--storage" if storage_uri else f"{source}: storage")
    return root


def streams(spec: SweepSpec, manifests: dict[str, Manifest]) -> bool:
    """Whether some trial streams a split through Ray Data (too big to hold in memory)."""
    for t in spec.trials():
        manifest = manifests[t.dataset]
        if not all(manifest.fits_in_memory(split, t.image_size, spec.resources.in_memory_mb) for split in manifest.splits):
            return True
    return False


def split_rows(manifests: dict[str, Manifest]) -> dict[str, dict[str, int]]:
    """Each dataset's rows per split, for the record: a report pools runs only on the same data."""
    return {name: {split: info.rows for split, info in m.splits.items()} for name, m in manifests.items()}


def _dataset_field(spec: SweepSpec, name: str) -> str:
    """Where a dataset is named in the sweep file, e.g. grid.dataset[1] or grid[2].dataset[0]."""
    for g, grid in enumerate(spec.grids()):
        if name in grid["dataset"]:
            return where((*spec.grid_loc(g), "dataset", grid["dataset"].index(name)))
    return "grid.dataset"


def joining(address: str | None) -> bool:
    return bool(address or os.environ.get("RAY_ADDRESS"))


def check_local_cpus(res: Resources, source: str, address: str | None, num_cpus: int | None) -> None:
    """A trial asking for more CPUs than a local Ray will have would wait forever: refused before
    Ray starts. A cluster may have (or add) bigger nodes: not checked there."""
    if joining(address):
        return
    have = num_cpus or os.cpu_count() or 1
    need = res.workers_per_trial * res.cpus_per_worker
    if need > have:
        raise UserError(
            f"{source}: resources: a trial asks for {need:g} CPU ({res.workers_per_trial} worker(s) x "
            f"{res.cpus_per_worker:g} cpus_per_worker), but a local Ray here has {have}; lower it or join a cluster"
        )
