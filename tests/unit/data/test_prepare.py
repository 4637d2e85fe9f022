"""The download rule's step on bad data a user may bring: each fails with one message naming the
file or key and the fix, and leaves no images.npy behind (or, where documented, is handled and
logged). (The same through Snakemake: tests/workflow/test_bad_input.py.)"""

import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latentbalance.data.decode import BadImageError
from latentbalance.data.image_dataset import ImageDataset
from latentbalance.data.prepare import download

from helpers import write_mvtec_tree, write_pictures


def cache(tmp_path: Path, source: str, root: Path, **settings) -> Path:
    """Run the download stage as the rule does; return where images.npy would be."""
    out = tmp_path / "results" / "data" / "images.npy"
    settings = {"root": str(root), "download": False, "local_copy": None} | settings
    download(
        source, out={"images": out, "skipped": out.with_name("skipped_images.csv")}, **settings
    )
    return out


@pytest.fixture
def out(tmp_path):
    path = tmp_path / "results" / "data" / "images.npy"
    yield path
    assert not path.exists(), "a failed download must not leave images.npy"


def test_class_folder_without_images(tmp_path, out):
    write_pictures(tmp_path / "data" / "good", 3)
    (tmp_path / "data" / "defect").mkdir()
    (tmp_path / "data" / "defect" / "readme.txt").write_text("none yet")
    with pytest.raises(ValueError, match="holds no images") as error:
        cache(tmp_path, "folder", tmp_path / "data")
    assert str(tmp_path / "data" / "defect") in str(error.value)
    assert "Add images or remove the folder" in str(error.value)


def test_class_with_a_single_image_is_an_error(tmp_path, out):
    write_pictures(tmp_path / "data" / "good", 5)
    write_pictures(tmp_path / "data" / "rare", 1)
    with pytest.raises(ValueError, match="'rare'") as error:
        cache(tmp_path, "folder", tmp_path / "data")
    assert "a single image" in str(error.value) and "at least 2" in str(error.value)


def test_missing_data_root(tmp_path, out):
    with pytest.raises(FileNotFoundError, match="does not exist") as error:
        cache(tmp_path, "folder", tmp_path / "no-such-folder")
    assert str(tmp_path / "no-such-folder") in str(error.value) and "'root'" in str(error.value)


def test_corrupt_image_names_the_file_unless_skipped(tmp_path, out):
    write_pictures(tmp_path / "data" / "good", 3)
    write_pictures(tmp_path / "data" / "defect", 3)
    broken = tmp_path / "data" / "defect" / "cut.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(BadImageError) as error:
        cache(tmp_path, "folder", tmp_path / "data")
    assert str(broken) in str(error.value) and "skip_bad_images: true" in str(error.value)
    # skipping: the dataset is cached without it, and the file is listed
    written = cache(tmp_path, "folder", tmp_path / "data", skip_bad_images=True)
    skipped = pd.read_csv(written.with_name("skipped_images.csv"))
    assert skipped["file"].tolist() == [str(broken)]
    assert np.bincount(ImageDataset.load(written).labels).tolist() == [3, 3]
    written.unlink()  # for the fixture's check


def test_non_image_files_are_ignored_with_a_log_line(tmp_path, caplog):
    write_pictures(tmp_path / "data" / "good", 3)
    write_pictures(tmp_path / "data" / "defect", 2)
    (tmp_path / "data" / "defect" / "labels.csv").write_text("file,ok\n")
    with caplog.at_level(logging.INFO):
        written = cache(tmp_path, "folder", tmp_path / "data")
    assert "labels.csv" in caplog.text and "hidden or not images" in caplog.text
    assert len(ImageDataset.load(written).labels) == 5


def test_mixed_sizes_and_modes_need_image_size(tmp_path, out):
    write_pictures(tmp_path / "data" / "good", 3, size=(12, 12), mode="L")
    write_pictures(tmp_path / "data" / "defect", 2, size=(20, 16), mode="RGB")
    with pytest.raises(ValueError, match=r"image_size: \[height, width\]") as error:
        cache(tmp_path, "folder", tmp_path / "data")
    assert "16x20" in str(error.value)  # names a file and its size
    written = cache(tmp_path, "folder", tmp_path / "data", image_size=[10, 14], channels=3)
    assert ImageDataset.load(written).images.shape == (5, 3, 10, 14)
    written.unlink()


def test_mvtec_tree_without_test_folder(tmp_path, out):
    base = write_mvtec_tree(tmp_path / "mvtec", train_good=3, test_good=1, defects={"cut": 2})
    for path in sorted((base / "test").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (base / "test").rmdir()
    with pytest.raises(FileNotFoundError, match="is missing") as error:
        cache(tmp_path, "mvtec", tmp_path / "mvtec")
    message = str(error.value)
    assert str(base / "test") in message and "bottle/test/<defect type>/" in message


def test_missing_mvtec_category_says_where_to_put_it(tmp_path, out):
    with pytest.raises(FileNotFoundError) as error:
        cache(tmp_path, "mvtec", tmp_path / "mvtec", category="hazelnut")
    message = str(error.value)
    assert "hazelnut.tar.xz" in message and str(tmp_path / "mvtec" / "hazelnut") in message
    assert "'url'" in message and "CC BY-NC-SA" in message


def test_image_size_on_a_torchvision_set_is_rejected(tmp_path, out):
    with pytest.raises(ValueError, match="'image_size' applies to folder and mvtec"):
        cache(tmp_path, "cifar10", tmp_path, image_size=64)
