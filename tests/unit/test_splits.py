import numpy as np
import pytest

from latentbalance.splits import (
    assign_folds,
    fold_indices,
    imbalance_counts,
    make_split,
    save_indices,
)


def balanced_labels(n_classes=10, per_class=500):
    return np.repeat(np.arange(n_classes), per_class)


def test_exponential_profile_runs_from_max_to_max_over_ratio():
    counts = imbalance_counts(10, ratio=100, max_per_class=400)
    assert counts[0] == 400
    assert counts[-1] == 4
    assert all(a >= b for a, b in zip(counts, counts[1:], strict=False))


def test_split_has_requested_counts_and_no_overlap():
    labels = balanced_labels()
    counts = [400, 300, 200, 100, 80, 60, 40, 20, 10, 5]
    parts = make_split(labels, test_fraction=0.2, counts=counts, seed=0)
    assert np.bincount(labels[parts["train"]]).tolist() == counts
    assert np.intersect1d(parts["train"], parts["test"]).size == 0
    # stratified independent test: 20 % of every class
    assert np.bincount(labels[parts["test"]]).tolist() == [100] * 10


def test_split_refuses_more_than_the_data_holds():
    labels = balanced_labels(per_class=50)
    with pytest.raises(ValueError, match="max_per_class"):
        make_split(labels, 0.2, counts=[45] + [10] * 9, seed=0)


def test_split_needs_one_count_per_class():
    with pytest.raises(ValueError, match="10 classes"):
        make_split(balanced_labels(), 0.2, counts=[5, 5], seed=0)


def test_split_depends_on_seed_only():
    labels = balanced_labels()
    counts = imbalance_counts(10, 20, 100)
    a, b = make_split(labels, 0.2, counts, 1), make_split(labels, 0.2, counts, 1)
    c = make_split(labels, 0.2, counts, 2)
    assert np.array_equal(a["train"], b["train"])
    assert not np.array_equal(a["train"], c["train"])


def test_folds_are_stratified_and_cover_every_image():
    labels = np.repeat(np.arange(4), [100, 40, 12, 5])
    folds = assign_folds(labels, n_folds=5, seed=0)
    assert set(folds.tolist()) == set(range(5))
    for cls in range(4):
        per_fold = np.bincount(folds[labels == cls], minlength=5)
        assert per_fold.max() - per_fold.min() <= 1


def test_folds_refuse_a_class_smaller_than_the_fold_count():
    labels = np.repeat(np.arange(3), [50, 20, 3])
    with pytest.raises(ValueError, match="folds=5"):
        assign_folds(labels, n_folds=5, seed=0)


def test_fold_indices_partition_the_training_pool(tmp_path):
    labels = balanced_labels(per_class=100)
    parts = make_split(labels, 0.2, imbalance_counts(10, 10, 80), seed=0)
    folds = assign_folds(labels[parts["train"]], 3, seed=0)
    save_indices(tmp_path / "split.npz", **parts)
    save_indices(tmp_path / "folds.npz", fold=folds)
    for k in range(3):
        idx = fold_indices(tmp_path / "split.npz", tmp_path / "folds.npz", k)
        assert np.intersect1d(idx["train"], idx["holdout"]).size == 0
        assert np.intersect1d(idx["train"], idx["test"]).size == 0
        assert np.array_equal(
            np.sort(np.concatenate([idx["train"], idx["holdout"]])), parts["train"]
        )
