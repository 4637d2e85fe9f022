"""The split: imbalance profile, independent test set, folds, the imbalanced test subsample, and
inside a fold its validation images, the same for every method."""

import numpy as np
import pytest

from latentbalance.data.image_dataset import synthetic_images_path
from latentbalance.data.splits import (
    assign_folds,
    assign_validation,
    fold_indices,
    imbalance_counts,
    imbalanced_test_counts,
    make_split,
    pool_imbalance,
    save_indices,
    subsample_to_counts,
    training_set,
)


def balanced_labels(n_classes=10, per_class=500):
    return np.repeat(np.arange(n_classes), per_class)


def test_exponential_profile_runs_from_max_to_max_over_ratio():
    counts = imbalance_counts(10, ratio=100, max_per_class=400)
    assert counts[0] == 400
    assert counts[-1] == 4
    assert all(a >= b for a, b in zip(counts, counts[1:], strict=False))


def test_fold_training_counts_are_what_each_fold_trains_on():
    block = {"counts": [40, 12, 5], "counts_are": "fold_training"}
    pool = pool_imbalance(block, n_folds=5)
    assert "counts_are" not in pool and block["counts_are"] == "fold_training"  # block kept
    labels = np.repeat(np.arange(3), pool["counts"])
    folds = assign_folds(labels, 5, seed=0)
    for k in range(5):
        trained = np.bincount(labels[folds != k], minlength=3)
        assert np.abs(trained - [40, 12, 5]).max() <= 1, k  # within one image
    ratio = {"ratio": 10, "max_per_class": 60, "counts_are": "training_pool"}
    assert pool_imbalance(ratio, 5) == {"ratio": 10, "max_per_class": 60}


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
    # the split rule also stores the imbalanced subsample of the test set
    test_counts = imbalanced_test_counts(
        np.bincount(labels[parts["test"]]), np.bincount(labels[parts["train"]])
    )
    parts["test_imbalanced"] = subsample_to_counts(labels, parts["test"], test_counts, seed=0)
    save_indices(tmp_path / "split.npz", **parts)
    validation = assign_validation(labels[parts["train"]], folds, 0.2, seed=1)
    save_indices(tmp_path / "folds.npz", fold=folds, validation=validation)
    for k in range(3):
        idx = fold_indices(tmp_path / "split.npz", tmp_path / "folds.npz", k)
        # the fold's training images: fitted or validation, never both
        assert np.intersect1d(idx["fit"], idx["validation"]).size == 0
        assert np.array_equal(np.union1d(idx["fit"], idx["validation"]), idx["train"])
        assert np.intersect1d(idx["train"], idx["holdout"]).size == 0
        assert np.intersect1d(idx["train"], idx["test"]).size == 0
        assert np.array_equal(
            np.sort(np.concatenate([idx["train"], idx["holdout"]])), parts["train"]
        )
        assert np.array_equal(idx["test_imbalanced"], parts["test_imbalanced"])


def test_imbalanced_test_counts_keep_the_training_profile():
    # training 100 -> 5, independent test 100 per class: the profile fits exactly
    assert imbalanced_test_counts(np.full(3, 100), [100, 20, 5]) == [100, 20, 5]
    # a test set smaller than the training counts is scaled down, at least one per class
    assert imbalanced_test_counts(np.array([50, 50, 40]), [100, 20, 1]) == [50, 10, 1]
    assert imbalanced_test_counts(np.full(2, 10), [4, 2], explicit=[7, 3]) == [7, 3]
    with pytest.raises(ValueError, match="test_counts"):
        imbalanced_test_counts(np.full(2, 10), [4, 2], explicit=[11, 3])


def test_each_folds_validation_is_a_stratified_fifth_of_its_training_images():
    labels = np.repeat(np.arange(4), [100, 40, 10, 2])
    fold_of = assign_folds(labels, 2, seed=0)
    validation = assign_validation(labels, fold_of, 0.2, seed=1)
    for k in range(2):
        training = fold_of != k
        assert not validation[k][~training].any()  # never a holdout image of the fold
        per_class = np.bincount(labels[validation[k]], minlength=4)
        trained = np.bincount(labels[training], minlength=4)
        assert per_class.tolist() == [10, 4, 1, 0]  # 20 %, rounded; one of 1 stays to fit
        assert (per_class < trained).all()


def test_a_folds_file_without_validation_images_names_the_rerun(tmp_path):
    labels = np.repeat([0, 1], 10)
    save_indices(tmp_path / "split.npz", train=np.arange(20), test=np.arange(20, 24))
    save_indices(tmp_path / "folds.npz", fold=assign_folds(labels, 2, seed=0))
    with pytest.raises(ValueError, match="forcerun folds"):
        fold_indices(tmp_path / "split.npz", tmp_path / "folds.npz", 0)


def fold_with_balanced_set(tmp_path, method_id, synthetic_share):
    """A tiny dataset of distinct random images, its split and two folds, and the balanced set
    that the oversample stage writes for fold 0 (pixel space: no autoencoder needed)."""
    from latentbalance.data.image_dataset import ImageDataset
    from latentbalance.settings.recipes import Compute, SamplerRecipe
    from latentbalance.stages import oversample

    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], [60, 20, 10])
    images = rng.integers(0, 256, size=(len(labels), 1, 8, 8), dtype=np.uint8)
    ImageDataset(images, labels, ["a", "b", "c"]).save(tmp_path / "images.npy")
    test = np.arange(0, len(labels), 6)
    train = np.setdiff1d(np.arange(len(labels)), test)
    save_indices(tmp_path / "split.npz", train=train, test=test, test_imbalanced=test)
    fold_of = assign_folds(labels[train], 2, seed=0)
    validation = assign_validation(labels[train], fold_of, 0.2, seed=1)
    save_indices(tmp_path / "folds.npz", fold=fold_of, validation=validation)
    recipe = SamplerRecipe(3, "majority", strict=False, synthetic_share=synthetic_share)
    outputs = {"balanced": "balanced.npz", "synthetic": "balanced.images.npy", "info": "info.json"}
    outputs["grid"] = "grid.png"
    out = {name: tmp_path / file for name, file in {**outputs, "check": "check.json"}.items()}
    paths = [tmp_path / name for name in ("images.npy", "split.npz", "folds.npz")]
    inputs = dict(zip(("images", "split", "folds"), paths, strict=True))
    compute = Compute("cpu", "fp32")
    oversample(inputs, fold=0, method_id=method_id, recipe=recipe, batch_size=16, seed=0,
               compute=compute, out=out)  # fmt: skip
    return images, labels, fold_indices(paths[1], paths[2], 0), out["balanced"]


@pytest.mark.parametrize(
    ("method_id", "synthetic_share"), [("ros", 1.0), ("ros", 0.5), ("smote-pixel", 0.5)]
)
def test_an_oversampler_fits_no_validation_image_nor_a_copy_of_one(
    tmp_path, method_id, synthetic_share
):
    images, labels, parts, balanced = fold_with_balanced_set(tmp_path, method_id, synthetic_share)
    fit_images, fit_labels, source = training_set(images, labels, parts["fit"], balanced)
    # the images are distinct random noise: equal pixels mean a copy, however it was recorded
    fit_images = fit_images.take(np.arange(len(fit_images)))
    fitted = {row.tobytes() for row in fit_images.reshape(len(fit_images), -1)}
    assert not any(row.tobytes() in fitted for row in images[parts["validation"]].reshape(
        len(parts["validation"]), -1))  # fmt: skip
    # every real fit image is there once, first, and every copy comes from one of them
    assert np.array_equal(source[: len(parts["fit"])], parts["fit"])
    copied = source[source >= 0]
    assert np.isin(copied, parts["fit"]).all()
    assert len(fit_labels) > len(parts["fit"])  # balanced: more than the real images
    synthetic = np.load(synthetic_images_path(balanced))
    with np.load(balanced) as saved:
        repeated = saved["repeated_indices"]
    expected = np.concatenate([images[parts["fit"]], images[repeated], synthetic])
    assert np.array_equal(fit_images, expected)


def test_a_balanced_validation_set_comes_from_outside_the_pool_and_chooses_for_every_fold(
    tmp_path,
):
    from latentbalance.data.splits import balanced_validation

    labels = balanced_labels(n_classes=4, per_class=100)
    parts = make_split(labels, 0.2, [60, 20, 6, 2], seed=0)
    parts["test_imbalanced"] = parts["test"]
    parts["validation"] = balanced_validation(labels, parts, 10, seed=3)
    assert np.bincount(labels[parts["validation"]]).tolist() == [10] * 4
    for other in ("train", "test"):
        assert np.intersect1d(parts["validation"], parts[other]).size == 0
    save_indices(tmp_path / "split.npz", **parts)
    fold_of = assign_folds(labels[parts["train"]], 2, seed=0)
    validation = assign_validation(labels[parts["train"]], fold_of, 0.2, seed=1)
    save_indices(tmp_path / "folds.npz", fold=fold_of, validation=validation)
    for k in range(2):
        idx = fold_indices(tmp_path / "split.npz", tmp_path / "folds.npz", k)
        # the fold fits all its training images; the balanced set picks epochs and the model
        assert np.array_equal(idx["fit"], idx["train"])
        assert np.array_equal(idx["validation"], parts["validation"])
        assert np.array_equal(idx["holdout"], parts["validation"])
    # more than the source holds outside the test set and the pool: the key and the fix
    with pytest.raises(ValueError, match="'validation_per_class' asks for 79"):
        balanced_validation(labels, parts, 79, seed=3)
