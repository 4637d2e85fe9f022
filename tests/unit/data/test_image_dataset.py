"""The image cache every stage reads: what is saved comes back, and what cannot be a dataset is
refused when it is made."""

import numpy as np
import pytest

from latentbalance.data.image_dataset import ImageDataset, load_labels, save_labels
from latentbalance.data.sources import load_source


def test_dataset_cache_round_trip(tmp_path):
    data = load_source("digits")
    data.save(tmp_path / "images.npy")
    again = ImageDataset.load(tmp_path / "images.npy")
    assert np.array_equal(again.images, data.images)
    assert again.labels.dtype == np.int64 and np.array_equal(again.labels, data.labels)
    assert again.class_names == data.class_names
    assert again.files is None  # a built-in set has no files to name


def test_file_names_survive_the_cache(tmp_path):
    images = np.zeros((3, 1, 2, 2), np.uint8)
    files = ["good/a b.png", "good/ü.png", "defect/x.PNG"]
    ImageDataset(images, np.array([0, 0, 1]), ["good", "defect"], files).save(tmp_path / "i.npy")
    again = ImageDataset.load(tmp_path / "i.npy")
    assert again.files == files and again.n_classes == 2 and again.image_shape == (1, 2, 2)


def test_labels_outside_the_classes_are_refused():
    with pytest.raises(ValueError, match="do not index the 2 classes"):
        ImageDataset(np.zeros((2, 1, 2, 2), np.uint8), np.array([0, 2]), ["a", "b"])
    with pytest.raises(ValueError, match="must be uint8"):
        ImageDataset(np.zeros((2, 1, 2, 2), np.float32), np.array([0, 1]), ["a", "b"])


def test_an_old_compressed_cache_says_how_to_remake_it(tmp_path):
    old = tmp_path / "images.npz"
    np.savez_compressed(old, images=np.zeros((2, 1, 2, 2), np.uint8), labels=np.array([0, 1]))
    for read in (ImageDataset.load, load_labels):
        with pytest.raises(ValueError, match="earlier version") as error:
            read(old)
        assert "snakemake --forcerun download" in str(error.value) and str(old) in str(error.value)


def resident_mb() -> float:
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return int(status["VmRSS"].split()[0]) / 1024


def test_rows_are_read_without_holding_the_mapped_file(tmp_path):
    """Every row of a 200 MB cache read in batches, as an epoch does: the process holds a
    batch, not the file (through the mapping it would hold all 200 MB)."""
    rows = 800
    path = tmp_path / "images.npy"
    images = np.lib.format.open_memmap(path, "w+", np.uint8, (rows, 4, 128, 128 * 4))
    images[:] = np.arange(rows, dtype=np.uint8)[:, None, None, None]
    del images
    save_labels(path, np.arange(rows) % 2, ["a", "b"])
    cache = ImageDataset.load(path)
    view = cache.view(np.random.default_rng(0).permutation(rows))
    before = resident_mb()
    for start in range(0, rows, 32):
        batch = view.take(np.arange(start, start + 32))
        assert (batch[:, 0, 0, 0] == view.parts[0][1][start : start + 32].astype(np.uint8)).all()
    assert resident_mb() - before < 50
    assert np.array_equal(cache.rows([5, 3, 3]), np.asarray(cache.images[[5, 3, 3]]))
