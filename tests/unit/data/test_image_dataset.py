"""The image cache every stage reads: what is saved comes back, and what cannot be a dataset is
refused when it is made."""

import numpy as np
import pytest

from latentbalance.data.image_dataset import ImageDataset
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
