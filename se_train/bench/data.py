"""`se-sweep bench data`: the data pipeline's throughput, streamed and held, against numpy and
torchvision's DataLoader."""

from __future__ import annotations

import gzip
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import ray
import torch
import torchvision
from PIL import Image
from torchvision import transforms

from se_train.bench import machine
from se_train.data.manifest import load_manifest
from se_train.data.pipeline import BatchTransform, EpochBatches, open_split, read_split
from se_train.data.prepare import prepare
from se_train.data.sources import SOURCES
from se_train.errors import UserError

BATCH = 256


def _rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f} images/s  ({n:,} images in {seconds:.2f} s)"


def _time_epochs(make_iter, epochs: int) -> list[tuple[int, float]]:
    out = []
    for epoch in range(epochs):
        t = time.perf_counter()
        n = sum(len(y) for _, y in make_iter(epoch))
        out.append((n, time.perf_counter() - t))
    return out


def _pipeline_rows(folder: Path, split: str, image_size: int | None, transform: bool, epochs: int) -> dict[str, list]:
    """Our pipeline: Ray Data streaming every epoch, and held in memory after one pyarrow read."""
    manifest = load_manifest(folder)
    shape = manifest.stored_shape(image_size)
    tf = BatchTransform.for_manifest(manifest, image_size, False, torch.device("cpu"), 0)
    rows = {}
    for in_memory in (False, True):
        held: list[EpochBatches] = []

        def run(epoch, in_memory=in_memory, held=held):
            if not held:  # built in the first timed epoch, so that epoch includes the start-up and read
                source = read_split(folder, split, image_size) if in_memory else open_split(folder, split, image_size).iterator()
                held.append(EpochBatches(source, shape, BATCH, shuffle=True, seed=0, device=torch.device("cpu")))
            for x, y in held[0].epoch(epoch):
                if transform:
                    x = tf(x, train=True)
                yield x, y

        rows["se_sweep in memory" if in_memory else "se_sweep streaming (Ray Data)"] = _time_epochs(run, epochs)
    return rows


def bench_data(data_root: Path, epochs: int = 3) -> str:
    """Images/s of the pipeline on Fashion-MNIST (raw) and on a JPEG folder, beside numpy in memory
    and a plain torchvision DataLoader over the same images."""

    src = SOURCES["fashion_mnist"].found()
    if src is None:
        raise UserError("bench data needs Debian's dataset-fashion-mnist (apt-get install -y dataset-fashion-mnist)")
    if not ray.is_initialized():
        ray.init(include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    folder = prepare("fashion_mnist", data_root)
    lines = [f"machine: {machine()}; batch {BATCH}; {epochs} epochs each (first epoch includes start-up)", ""]

    def report(title, rows):
        lines.append(f"## {title}")
        for name, runs in rows.items():
            for i, (n, s) in enumerate(runs):
                lines.append(f"{name:<34} epoch {i}: {_rate(n, s)}")
        lines.append("")

    # Fashion-MNIST train, raw uint8 28x28.
    rows = _pipeline_rows(folder, "train", None, transform=True, epochs=epochs)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        for f in src.glob("*-ubyte.gz"):
            (raw / f.name[:-3]).write_bytes(gzip.decompress(f.read_bytes()))
        tv = torchvision.datasets.FashionMNIST(tmp, train=True, transform=transforms.ToTensor())
        images = tv.data.numpy()

        def numpy_epoch(epoch):
            order = np.random.default_rng(epoch).permutation(len(images))
            for i in range(0, len(order), BATCH):
                idx = order[i : i + BATCH]
                yield torch.from_numpy(images[idx]).unsqueeze(1).float().div_(255), torch.from_numpy(tv.targets.numpy()[idx])

        rows["numpy in memory"] = _time_epochs(numpy_epoch, epochs)
        loader = torch.utils.data.DataLoader(tv, batch_size=BATCH, shuffle=True, num_workers=0)
        rows["torchvision DataLoader (0 workers)"] = _time_epochs(lambda e: iter(loader), epochs)
    report("Fashion-MNIST train (55,000 x 28x28x1 raw; decode + normalise)", rows)

    # The Fashion-MNIST test images as a JPEG image folder (ImageNet layout), decoded to 32 px.
    with tempfile.TemporaryDirectory() as tmp:
        test = folder / "test"
        table = pq.read_table(next(test.glob("*.parquet")))
        pixels = np.frombuffer(b"".join(table["image"].to_pylist()), np.uint8).reshape(-1, 28, 28)
        labels = table["label"].to_numpy()
        for split in ("train", "val"):
            for i, (img, label) in enumerate(zip(pixels, labels)):
                d = Path(tmp) / "src" / split / f"c{label}"
                d.mkdir(parents=True, exist_ok=True)
                Image.fromarray(img).convert("RGB").save(d / f"{i}.JPEG", quality=90)
        jpeg = prepare("imagenet", Path(tmp) / "data", source=Path(tmp) / "src", valid_size=100)
        rows = _pipeline_rows(jpeg, "test", 32, transform=True, epochs=epochs)
        tf = transforms.Compose([transforms.Resize(32, interpolation=transforms.InterpolationMode.BICUBIC), transforms.ToTensor()])
        loader = torch.utils.data.DataLoader(torchvision.datasets.ImageFolder(Path(tmp) / "src" / "val", tf), batch_size=BATCH, shuffle=True)
        rows["torchvision ImageFolder DataLoader"] = _time_epochs(lambda e: iter(loader), epochs)
        report(f"JPEG folder ({len(labels):,} Fashion-MNIST test images as RGB JPEG, decoded at 32 px)", rows)
    return "\n".join(lines)
