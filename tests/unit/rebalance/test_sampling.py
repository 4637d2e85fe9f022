"""Balancing a set of feature vectors: SMOTE, ADASYN, Borderline-SMOTE, ROS, real repeats."""

import logging

import numpy as np
import pytest

from latentbalance.rebalance.sampling import balance, real_repeats
from latentbalance.settings.recipes import SamplerRecipe


def recipe(k_neighbors=5, target="majority", strict=False, synthetic_share=1.0):
    return SamplerRecipe(k_neighbors, target, strict, synthetic_share)


def clustered(counts, dim=8, seed=0):
    rng = np.random.default_rng(seed)
    features = [rng.normal(loc=5 * c, size=(n, dim)) for c, n in enumerate(counts)]
    labels = np.repeat(np.arange(len(counts)), counts)
    return np.concatenate(features).astype(np.float32), labels


def test_smote_raises_every_class_to_the_majority():
    features, labels = clustered([60, 20, 7, 3, 2])
    added = balance(features, labels, "smote", recipe(), seed=0)
    final = np.bincount(labels) + np.bincount(added.labels, minlength=5)
    assert final.tolist() == [60] * 5
    # k is reduced for classes smaller than k + 1
    info = added.per_class
    assert info[3]["k_neighbors"] == 2 and info[4]["k_neighbors"] == 1
    assert info[1]["k_neighbors"] == 5


def test_smote_interpolates_within_the_class():
    features, labels = clustered([50, 6])
    added = balance(features, labels, "smote", recipe(), seed=0)
    new, new_labels = added.features, added.labels
    minority = features[labels == 1]
    assert np.all(new_labels == 1)
    assert np.all(new >= minority.min(0) - 1e-5) and np.all(new <= minority.max(0) + 1e-5)
    # new points, not copies
    assert not any(np.any(np.all(np.isclose(minority, point), axis=1)) for point in new)


def test_single_sample_class_is_duplicated_with_a_warning(caplog):
    features, labels = clustered([10, 1])
    with caplog.at_level(logging.WARNING):
        added = balance(features, labels, "smote", recipe(), seed=0)
    assert "single training sample" in caplog.text
    assert added.per_class[1]["how"] == "duplicate"
    assert np.allclose(added.features, features[labels == 1][0])


@pytest.mark.parametrize("sampler", ["smote", "adasyn", "ros"])
def test_synthetic_share_leaves_the_rest_to_real_repeats(sampler):
    features, labels = clustered([60, 20, 7])
    added = balance(features, labels, sampler, recipe(synthetic_share=0.5), seed=0)
    synthetic = np.bincount(added.labels, minlength=3)
    repeated = np.bincount(labels[added.repeats], minlength=3)
    assert (np.bincount(labels) + synthetic + repeated).tolist() == [60, 60, 60]
    assert synthetic.tolist() == [0, 20, 26] and repeated.tolist() == [0, 20, 27]
    assert [added.per_class[c]["synthetic"] for c in range(3)] == synthetic.tolist()
    assert [added.per_class[c]["repeated"] for c in range(3)] == repeated.tolist()
    # the repeats are real images of the class they make up for, drawn as real_repeats draws
    assert np.array_equal(added.repeats, real_repeats(labels, "majority", 0.5, seed=0))


def test_real_repeats_leave_a_class_absent_from_the_fold_absent():
    labels = np.repeat([0, 2], [30, 5])
    repeats = real_repeats(labels, "majority", 0.5, seed=0)
    assert np.bincount(labels[repeats], minlength=3).tolist() == [0, 0, 13]  # 25 - rint(12.5)


def test_sampling_is_reproducible():
    features, labels = clustered([30, 8, 4])
    a = balance(features, labels, "smote", recipe(synthetic_share=0.5), seed=3)
    b = balance(features, labels, "smote", recipe(synthetic_share=0.5), seed=3)
    assert np.array_equal(a.features, b.features) and np.array_equal(a.repeats, b.repeats)


@pytest.mark.parametrize("sampler", ["smote", "adasyn", "borderline", "ros"])
def test_every_sampler_gives_exact_majority_counts(sampler):
    # skewed, overlapping classes, one of them with only two samples
    rng = np.random.default_rng(1)
    counts = [80, 30, 9, 2]
    features = np.concatenate([rng.normal(loc=0.6 * c, size=(n, 6)) for c, n in enumerate(counts)])
    labels = np.repeat(np.arange(4), counts)
    added = balance(features.astype(np.float32), labels, sampler, recipe(), seed=0)
    assert (np.bincount(labels) + np.bincount(added.labels, minlength=4)).tolist() == [80] * 4
    assert len(added.features) == len(added.labels) == len(added.sources)
    if sampler != "ros":
        assert added.per_class[3]["k_neighbors"] == 1


def test_adasyn_refusal_falls_back_to_smote_and_is_recorded(caplog):
    # well-separated clusters: no minority sample has a majority neighbour, ADASYN raises
    features, labels = clustered([50, 12, 6])
    with pytest.raises(RuntimeError):
        from imblearn.over_sampling import ADASYN

        ADASYN(sampling_strategy={1: 50}, n_neighbors=5).fit_resample(features, labels)
    with caplog.at_level(logging.WARNING):
        added = balance(features, labels, "adasyn", recipe(), seed=0)
    assert np.bincount(added.labels, minlength=3).tolist() == [0, 38, 44]
    info = added.per_class
    assert "adasyn refused" in info[1]["fallback"] and info[1]["smote_top_up"] == 38
    assert "using SMOTE instead" in caplog.text


def test_strict_rejects_a_single_sample_class():
    features, labels = clustered([10, 1])
    with pytest.raises(ValueError, match="sampler.strict"):
        balance(features, labels, "smote", recipe(strict=True), seed=0)


def test_fixed_target_count():
    features, labels = clustered([30, 8, 4])
    added = balance(features, labels, "smote", recipe(target=40), seed=0)
    assert (np.bincount(labels) + np.bincount(added.labels, minlength=3)).tolist() == [40] * 3


def test_k_larger_than_every_class_names_the_key():
    labels = np.repeat([0, 1, 2], [30, 10, 4])
    features = np.random.default_rng(0).normal(size=(len(labels), 5))
    with pytest.raises(ValueError, match=r"'sampler.k_neighbors' is 30.*below 30"):
        balance(features, labels, "smote", recipe(k_neighbors=30), seed=0)
    # a k that only small classes cannot reach is lowered for them, as SMOTE needs
    added = balance(features, labels, "smote", recipe(k_neighbors=8), seed=0)
    assert added.per_class[2]["k_neighbors"] == 3 and added.per_class[1]["k_neighbors"] == 8
    assert np.bincount(added.labels).tolist() == [0, 20, 26]


@pytest.mark.parametrize("sampler", ["ros", "smote", "adasyn", "borderline"])
def test_sources_name_the_sample_each_exact_copy_repeats(sampler):
    features, labels = clustered([60, 20, 7, 3, 1])
    added = balance(features, labels, sampler, recipe(), seed=2)
    new, new_labels, sources = added.features, added.labels, added.sources
    assert len(sources) == len(new)
    copies = sources >= 0
    assert np.array_equal(features[sources[copies]], new[copies])
    assert np.array_equal(labels[sources[copies]], new_labels[copies])
    if sampler == "ros":
        assert copies.all()
    else:  # interpolated, but the single sample of class 4 can only be duplicated
        assert np.array_equal(copies, new_labels == 4)
        assert (sources[copies] == np.flatnonzero(labels == 4)[0]).all()
