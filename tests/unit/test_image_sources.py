"""Every image source on files written in its true format: torchvision's CIFAR-10 pickles, SVHN
.mat files, MNIST idx files, an MVTec AD tree (also as a tarball fetched from a URL), a messy
ImageFolder, and the real CIFAR-10 test PNGs that PyPI foolbox ships."""

import pickle
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from latentbalance.datasets import ImageDataset, load_source
from latentbalance.images import IMAGE_SUFFIXES, find_images, read_image

from imagetrees import (
    CIFAR_NAMES,
    foolbox_cifar_pngs,
    write_foolbox_cifar_folder,
    write_messy_folder,
    write_mvtec_tree,
)
from test_datasets import write_idx


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


def test_mvtec_pools_good_and_defect_types_and_ignores_masks(tmp_path):
    write_mvtec_tree(tmp_path, train_good=9, test_good=3, defects={"broken": 2, "cut": 3})
    data = load_source("mvtec", root=str(tmp_path))
    assert data.class_names == ["good", "defect"]
    assert data.images.shape == (17, 3, 64, 64)  # default 64x64 RGB
    assert np.bincount(data.labels).tolist() == [12, 5]
    assert not any("ground_truth" in f for f in data.files)
    assert data.files[0] == "bottle/train/good/000.png"
    defect_files = np.array(data.files)[data.labels == 1]
    assert {f.split("/")[2] for f in defect_files} == {"broken", "cut"}
    grey = load_source("mvtec", root=str(tmp_path), image_size=[16, 24], channels=1)
    assert grey.images.shape == (17, 1, 16, 24)


@pytest.fixture
def http_folder(tmp_path):
    """A local HTTP server for a folder: (folder, base URL)."""
    folder = tmp_path / "www"
    folder.mkdir()
    handler = partial(SimpleHTTPRequestHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_mvtec_download_fetches_and_extracts_the_category_tarball(tmp_path, http_folder):
    source = tmp_path / "source"
    write_mvtec_tree(source, train_good=4, test_good=2, defects={"broken": 2})
    www, base_url = http_folder
    with tarfile.open(www / "bottle.tar.xz", "w:xz") as tar:
        tar.add(source / "bottle", arcname="bottle")
    root = tmp_path / "resources"
    url = f"{base_url}/bottle.tar.xz"
    data = load_source("mvtec", root=str(root), download=True, url=url, image_size=16)
    assert np.bincount(data.labels).tolist() == [6, 2]
    assert (root / "bottle" / "train" / "good" / "000.png").exists()
    assert not (root / "bottle.tar.xz").exists()  # the archive is removed after extraction


def test_messy_folder_reads_every_mode_and_keeps_class_names(tmp_path):
    counts = write_messy_folder(tmp_path, corrupt=False)
    data = load_source("folder", root=str(tmp_path), image_size=32)
    assert data.class_names == ["good part", "scratch"]
    assert np.bincount(data.labels).tolist() == [counts["good part"], counts["scratch"]]
    assert data.images.shape == (20, 3, 32, 32)  # colour present: RGB
    assert "good part/batch2/line a/img1.PNG" in data.files
    assert not any(f.endswith(".txt") for f in data.files)
    data.save(tmp_path / "images.npz")
    assert ImageDataset.load(tmp_path / "images.npz").files == data.files


def test_read_image_handles_palette_rgba_and_16_bit(tmp_path):
    grey = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (8, 1))  # 8 x 16
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    assert np.array_equal(read_image(tmp_path / "deep.png", None, 1)[0], grey)
    rgba = np.zeros((8, 16, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 255
    rgba[:, :8, 3] = 0  # left half transparent: composited onto black
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    pixels = read_image(tmp_path / "alpha.png", (4, 8), 3)
    assert pixels.shape == (3, 4, 8)
    assert pixels[0, :, :3].max() == 0 and pixels[0, :, 5:].min() == 200
    Image.fromarray(grey).convert("P").save(tmp_path / "palette.bmp")
    assert read_image(tmp_path / "palette.bmp", None, 3).shape == (3, 8, 16)
    found = find_images(tmp_path)
    assert [p.name for p in found] == ["alpha.png", "deep.png", "palette.bmp"]
    assert ".bmp" in IMAGE_SUFFIXES


def test_grey_folder_becomes_one_channel(tmp_path):
    for cls in ("ok", "nok"):
        (tmp_path / cls).mkdir()
        for i in range(3):
            Image.new("L", (10, 12), 40 * i).save(tmp_path / cls / f"{i}.png")
    data = load_source("folder", root=str(tmp_path))
    assert data.images.shape == (6, 1, 12, 10)
    assert data.class_names == ["nok", "ok"]


@pytest.mark.skipif(not foolbox_cifar_pngs(), reason="pip install --no-deps foolbox")
def test_real_cifar10_pngs_as_a_folder_dataset(tmp_path):
    pngs = write_foolbox_cifar_folder(tmp_path)
    data = load_source("folder", root=str(tmp_path))
    assert len(pngs) == 20 and data.images.shape == (20, 3, 32, 32)
    assert np.bincount(data.labels).tolist() == [10, 10]
    first = data.files.index("animal/cat/cifar10_00_3.png")
    assert np.array_equal(data.images[first], np.asarray(Image.open(pngs[0])).transpose(2, 0, 1))
