"""The synthetic-sample check: nearest real image distances of generated images."""

import numpy as np
import pytest

from latentbalance.rebalance import synthetic_check
from latentbalance.rebalance.synthetic_check import nearest_neighbour_check


def real_images(rng, n):
    return rng.integers(0, 256, size=(n, 1, 8, 8), dtype=np.uint8)


def test_copies_score_zero_and_new_images_about_one():
    rng = np.random.default_rng(0)
    real = real_images(rng, 40)
    labels = np.repeat([0, 1], 20)
    copies = real[[0, 1, 2, 20, 21]]
    copy_check = nearest_neighbour_check(
        real, labels, copies, labels[[0, 1, 2, 20, 21]], ["a", "b"]
    )
    assert copy_check["overall"]["copy_ratio"] == 0
    assert copy_check["overall"]["exact_copies"] == 1
    # fresh draws from the same distribution are as far from the real images as those are apart
    fresh = real_images(rng, 40)
    fresh_check = nearest_neighbour_check(real, labels, fresh, labels, ["a", "b"])
    assert fresh_check["overall"]["copy_ratio"] == pytest.approx(1, abs=0.1)
    assert fresh_check["overall"]["diversity_ratio"] == pytest.approx(1, abs=0.1)
    assert fresh_check["overall"]["exact_copies"] == 0


def test_collapsed_synthetic_images_have_no_diversity():
    rng = np.random.default_rng(1)
    real = real_images(rng, 20)
    labels = np.zeros(20, dtype=int)
    collapsed = np.repeat(real_images(rng, 1), 10, axis=0)
    check = nearest_neighbour_check(real, labels, collapsed, np.zeros(10, dtype=int), ["a"])
    assert check["overall"]["diversity_ratio"] == 0
    assert check["overall"]["copy_ratio"] > 0.5


def test_a_class_without_synthetic_images_is_left_out():
    rng = np.random.default_rng(2)
    real = real_images(rng, 30)
    labels = np.repeat([0, 1, 2], 10)
    synthetic = real_images(rng, 5)
    check = nearest_neighbour_check(real, labels, synthetic, np.full(5, 2), ["a", "b", "c"])
    assert [row["class"] for row in check["per_class"]] == ["c"]
    assert check["overall"]["copy_ratio"] > 0.5


def test_the_check_reads_no_more_images_per_class_than_its_byte_budget(monkeypatch):
    """Its memory does not grow with the data: at 128 px RGB it compares ~680 images of each
    kind per class; at 28-32 px every real image of a class and the first 2,000 synthetic ones."""
    assert synthetic_check.checked_count((3, 128, 128)) == 682
    assert synthetic_check.checked_count((1, 28, 28)) > 40_000
    assert synthetic_check.checked_count((3, 32, 32)) > 10_000
    monkeypatch.setattr(synthetic_check, "CHECK_BYTES", 5 * 4 * 64)  # five 8x8 images
    rng = np.random.default_rng(3)
    real, synthetic = real_images(rng, 12), real_images(rng, 9)
    check = nearest_neighbour_check(real, np.zeros(12, int), synthetic, np.zeros(9, int), ["a"])
    assert check["per_class"][0]["n_real"] == 5 and check["per_class"][0]["n_synthetic"] == 5
