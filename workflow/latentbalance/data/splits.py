"""The imbalanced split: an independent stratified test set, an imbalanced training pool, K folds.

Manifests hold indices into the cached dataset, never copies of images.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..io import atomic_path
from .image_dataset import ImageRows, synthetic_images_path


def imbalance_counts(n_classes: int, ratio: float, max_per_class: int) -> list[int]:
    """Exponential decay from ``max_per_class`` (class 0) to ``max_per_class / ratio`` (last)."""
    if ratio < 1:
        raise ValueError(f"imbalance ratio must be >= 1, got {ratio}")
    if n_classes == 1:
        return [max_per_class]
    exponents = np.arange(n_classes) / (n_classes - 1)
    counts = np.round(max_per_class * ratio ** (-exponents)).astype(int)
    return [max(1, int(c)) for c in counts]


def fold_training_pool(counts: list[int], n_folds: int) -> list[int]:
    """The training pool whose stratified ``n_folds`` folds each train on ``counts`` (within one
    image where ``n_folds - 1`` does not divide a class's pool): ``counts * n_folds / (n_folds
    - 1)``, halves rounded up."""
    return [int(np.floor(c * n_folds / (n_folds - 1) + 0.5)) for c in counts]


def pool_imbalance(imbalance: dict, n_folds: int) -> dict:
    """What the split draws, from a dataset's ``imbalance`` block: with ``counts_are:
    fold_training`` its counts are what each fold trains on, so the pool's are larger by
    ``n_folds / (n_folds - 1)``; ``training_pool`` counts are the pool's. ``counts_are`` itself
    goes (the split reads counts or ratio only)."""
    pool = dict(imbalance)
    if pool.pop("counts_are", "training_pool") == "fold_training":
        pool["counts"] = fold_training_pool(pool["counts"], n_folds)
    return pool


def split_independent_test(labels: np.ndarray, test_fraction: float, seed: int):
    """Stratified independent test set; returns (test_indices, remaining_indices), both sorted."""
    from sklearn.model_selection import train_test_split  # here: only split and folds need it

    indices = np.arange(len(labels))
    rest, test = train_test_split(
        indices, test_size=test_fraction, stratify=labels, random_state=seed
    )
    return np.sort(test), np.sort(rest)


def subsample_to_counts(
    labels: np.ndarray,
    pool: np.ndarray,
    counts: list[int],
    seed: int,
    class_names: list[str] | None = None,
) -> np.ndarray:
    """Draw ``counts[c]`` indices of class c from ``pool`` (without replacement); sorted."""
    rng = np.random.default_rng(seed)
    chosen = []
    for cls, wanted in enumerate(counts):
        available = pool[labels[pool] == cls]
        if wanted > len(available):
            name = class_names[cls] if class_names else cls
            raise ValueError(
                f"imbalance asks for {wanted} training images of class {name!r} but only "
                f"{len(available)} remain after the test split; lower 'imbalance.counts' or "
                "'imbalance.max_per_class'"
            )
        chosen.append(rng.choice(available, size=wanted, replace=False))
    return np.sort(np.concatenate(chosen))


def make_split(
    labels: np.ndarray,
    test_fraction: float,
    counts: list[int],
    seed: int,
    class_names: list[str] | None = None,
) -> dict[str, np.ndarray]:
    """The independent test set and the imbalanced training pool, as index arrays."""
    n_classes = int(labels.max()) + 1
    if len(counts) != n_classes:
        names = f" ({', '.join(class_names)})" if class_names else ""
        raise ValueError(
            f"'imbalance.counts' gives {len(counts)} counts but the dataset has {n_classes} "
            f"classes{names}: give one count per class, in class order"
        )
    test, rest = split_independent_test(labels, test_fraction, seed)
    train = subsample_to_counts(labels, rest, counts, seed + 1, class_names)
    overlap = np.intersect1d(test, train)
    assert overlap.size == 0, f"test and train share {overlap.size} indices"
    return {"test": test, "train": train}


def imbalanced_test_counts(
    test_per_class: np.ndarray, train_counts: list[int], explicit: list[int] | None = None
) -> list[int]:
    """Per-class counts of the imbalanced test subsample: ``explicit`` when given, else the
    training counts scaled by the largest factor that the independent test set can supply (the
    training imbalance profile, as large as the test set allows; at least one image per class)."""
    test_per_class = np.asarray(test_per_class)
    if explicit is not None:
        counts = [int(c) for c in explicit]
        if len(counts) != len(test_per_class):
            raise ValueError(
                f"'imbalance.test_counts' gives {len(counts)} counts but the dataset has "
                f"{len(test_per_class)} classes"
            )
        short = [
            c for c, (want, n) in enumerate(zip(counts, test_per_class, strict=True)) if want > n
        ]
        if short:
            raise ValueError(
                f"'imbalance.test_counts' asks for more test images than the independent test set "
                f"has in class(es) {short} (it has {test_per_class[short].tolist()}); lower them "
                "or raise 'test_fraction'"
            )
        return counts
    scale = min(n / c for n, c in zip(test_per_class, train_counts, strict=True))
    return [max(1, int(np.floor(c * scale + 1e-9))) for c in train_counts]


def assign_folds(labels: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Stratified fold number (0..n_folds-1) for each training image."""
    smallest = np.bincount(labels).min()
    if smallest < n_folds:
        raise ValueError(
            f"the smallest class has {smallest} training images, fewer than folds={n_folds}; "
            "lower 'folds' or raise that class's count in 'imbalance'"
        )
    from sklearn.model_selection import StratifiedKFold

    folds = np.empty(len(labels), dtype=np.int64)
    splitter = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    for k, (_, holdout) in enumerate(splitter.split(np.zeros(len(labels)), labels)):
        folds[holdout] = k
    return folds


def save_indices(path: str | Path, **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def load_indices(path: str | Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {key: data[key] for key in data.files}


def fold_indices(split_path, folds_path, fold: int) -> dict[str, np.ndarray]:
    """Dataset indices for one fold: its training part, its holdout, the independent test set
    and its imbalanced subsample ``test_imbalanced``."""
    split = load_indices(split_path)
    fold_of = load_indices(folds_path)["fold"]
    return {
        "train": split["train"][fold_of != fold],
        "holdout": split["train"][fold_of == fold],
        "test": split["test"],
        "test_imbalanced": split["test_imbalanced"],
    }


def test_indices(split_path, folds_path, fold: int, testset: str) -> np.ndarray:
    """The dataset indices of one test set (``test``, ``test_imbalanced`` or ``holdout``)."""
    parts = fold_indices(split_path, folds_path, fold)
    if testset not in parts or testset == "train":
        known = sorted(set(parts) - {"train"})
        raise ValueError(
            f"{split_path} has no test set {testset!r} (it has {', '.join(known)}); "
            "delete it and rerun the split rule, or choose another test set"
        )
    return parts[testset]


# --- inside a fold: the training set of a classifier and its validation part -------------------


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int):
    """Per class, ``round(fraction * n)`` items go to validation, always leaving one for training.

    Returns (train_positions, validation_positions), sorted. No item is dropped.
    """
    rng = np.random.default_rng(seed)
    train, val = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_val = min(int(round(fraction * len(members))), len(members) - 1)
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def training_set(images: np.ndarray, labels: np.ndarray, train: np.ndarray, balanced_path):
    """The fold's real training images (dataset indices ``train``) plus, for generating methods,
    the real images the balanced set repeats (``sampler.synthetic_share`` < 1) and its synthetic
    images. ``source`` is the dataset index of each real image, repeat and synthetic image that is
    a copy of one (``ros``; -1 for an interpolated one), so that a validation split can keep every
    copy of an image out of fitting; the fold's own images come first, once each.

    Returns (images, labels, source); the images as ``ImageRows``, read when used."""
    fold_images, fold_labels, source = ImageRows([(images, train)]), labels[train], train
    if not balanced_path:
        return fold_images, fold_labels, source
    with np.load(balanced_path, allow_pickle=False) as balanced:
        if not np.array_equal(balanced["real_indices"], train):
            raise ValueError(f"{balanced_path} was made for another fold; rerun oversample")
        repeated = balanced["repeated_indices"]
        synthetic_labels = balanced["synthetic_labels"]
        if "synthetic_sources" not in balanced.files:
            raise ValueError(
                f"{balanced_path} does not record which samples copy a real image; rerun "
                "oversample (snakemake --forcerun oversample)"
            )
        copied = balanced["synthetic_sources"]
        synthetic = np.load(synthetic_images_path(balanced_path), mmap_mode="r")
        return (
            ImageRows(
                [(images, train), (images, repeated), (synthetic, np.arange(len(synthetic)))]
            ),
            np.concatenate([fold_labels, labels[repeated], synthetic_labels]),
            np.concatenate([train, repeated, copied]),
        )


def validation_split(labels, source, n_real: int, fraction: float, validation: str, seed: int):
    """Stratified (fit, validation) positions: ``balanced`` draws validation from the whole
    balanced set (DeepSMOTE's protocol); ``real`` only from the first ``n_real`` (the fold's real
    images, once each) and fits on the rest but those images' copies (same ``source``), so that
    early stopping judges on real images the classifier has not seen (every interpolated image
    is fitted on)."""
    if validation == "balanced":
        return stratified_holdout(labels, fraction, seed)
    _, val = stratified_holdout(labels[:n_real], fraction, seed)
    fit = np.flatnonzero(~np.isin(source, source[val]))
    return fit, val
