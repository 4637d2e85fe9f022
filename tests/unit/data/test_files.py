"""The image-file sources on files written in their true format: an MVTec AD tree (also as a
tarball fetched from a URL), a messy ImageFolder, a grey folder, and the real CIFAR-10 test PNGs
that PyPI foolbox ships. (The torchvision sets: test_sources.py.)"""

import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from latentbalance.data.image_dataset import ImageDataset
from latentbalance.data.sources import load_source

from helpers import (
    foolbox_cifar_pngs,
    unreachable_address,
    write_foolbox_cifar_folder,
    write_messy_folder,
    write_mvtec_tree,
    write_pictures,
)


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


def test_mvtec_archive_cut_short_is_an_error_that_leaves_nothing_to_mistake_for_the_data(
    tmp_path, http_folder
):
    source = tmp_path / "source"
    write_mvtec_tree(source, train_good=40, test_good=2, defects={"broken": 2})
    www, base_url = http_folder
    with tarfile.open(tmp_path / "whole.tar.xz", "w:xz") as tar:
        tar.add(source / "bottle", arcname="bottle")
    whole = (tmp_path / "whole.tar.xz").read_bytes()
    (www / "bottle.tar.xz").write_bytes(whole[: len(whole) // 2])
    root = tmp_path / "resources"
    url = f"{base_url}/bottle.tar.xz"
    with pytest.raises(ValueError) as error:
        load_source("mvtec", root=str(root), download=True, url=url, image_size=16)
    message = str(error.value)
    assert f"the archive downloaded from {url}" in message and "not a readable tarball" in message
    assert "rerun to download it again" in message
    # no partial bottle/ that the next run would read as the category, no archive, no temp folder
    assert list(root.iterdir()) == []

    (www / "bottle.tar.xz").write_bytes(whole)  # the next try gets the whole file
    data = load_source("mvtec", root=str(root), download=True, url=url, image_size=16)
    assert np.bincount(data.labels).tolist() == [42, 2]
    assert sorted(p.name for p in root.iterdir()) == ["bottle"]


@pytest.mark.parametrize("served", [False, True], ids=["no server", "no such file"])
def test_mvtec_download_that_fails_names_the_address_and_the_offline_way(
    tmp_path, http_folder, served
):
    base_url = http_folder[1] if served else unreachable_address()
    url = f"{base_url}/bottle.tar.xz"
    root = tmp_path / "resources"
    with pytest.raises(ConnectionError) as error:
        load_source("mvtec", root=str(root), download=True, url=url)
    message = str(error.value)
    assert message.startswith(f"downloading MVTec AD bottle from {url} failed (")
    assert "bottle.tar.xz from https://www.mvtec.com" in message
    assert str(root / "bottle" / "train" / "good") in message
    assert not (root / "bottle").exists()


def test_messy_folder_reads_every_mode_and_keeps_class_names(tmp_path):
    counts = write_messy_folder(tmp_path, corrupt=False)
    data = load_source("folder", root=str(tmp_path), image_size=32)
    assert data.class_names == ["good part", "scratch"]
    assert np.bincount(data.labels).tolist() == [counts["good part"], counts["scratch"]]
    assert data.images.shape == (20, 3, 32, 32)  # colour present: RGB
    assert "good part/batch2/line a/img1.PNG" in data.files
    assert not any(f.endswith(".txt") for f in data.files)
    data.save(tmp_path / "images.npy")
    assert ImageDataset.load(tmp_path / "images.npy").files == data.files


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


def test_class_folders_equal_up_to_case_stop_naming_both(tmp_path):
    for name in ("Scratch", "good", "scratch"):
        write_pictures(tmp_path / name, 3)
    with pytest.raises(ValueError) as error:
        load_source("folder", root=str(tmp_path))
    message = str(error.value)
    assert str(tmp_path / "Scratch") in message and str(tmp_path / "scratch") in message
    assert "differ only in case" in message and "rename one" in message


def test_class_order_is_the_readers_code_point_order(tmp_path):
    # upper case sorts before lower case, and an accented letter after every ASCII one
    for name in ("défaut", "gut", "Kratzer-ä", "dent"):
        write_pictures(tmp_path / name, 2)
    assert load_source("folder", root=str(tmp_path)).class_names == [
        "Kratzer-ä", "dent", "défaut", "gut",
    ]  # fmt: skip
