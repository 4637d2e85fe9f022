"""The imbalanced split: an independent stratified test set, an imbalanced training pool, K folds.

Manifests hold indices into the cached dataset, never copies of images.
"""

from __future__ import annotations

import hashlib
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


def balanced_validation(labels, parts: dict, per_class: int, seed: int, class_names=None):
    """A balanced validation set: ``per_class`` images of every class drawn from the images in
    neither ``parts["test"]`` nor ``parts["train"]``; sorted dataset indices."""
    outside = np.setdiff1d(np.arange(len(labels)), np.union1d(parts["test"], parts["train"]))
    available = np.bincount(labels[outside], minlength=int(labels.max()) + 1)
    if available.min() < per_class:
        short = int(available.argmin())
        name = class_names[short] if class_names else short
        raise ValueError(
            f"'validation_per_class' asks for {per_class} images of class {name!r} outside the "
            f"test set and the training pool, but only {available.min()} are left; lower "
            "'validation_per_class', 'test_fraction' or the imbalance counts"
        )
    return subsample_to_counts(labels, outside, [per_class] * len(available), seed, class_names)


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


def assign_validation(labels: np.ndarray, fold_of: np.ndarray, fraction: float, seed: int):
    """Each fold's validation images, drawn once for every method: row k marks, among the
    training images outside fold k (labels ``labels``, fold numbers ``fold_of``), a stratified
    ``fraction`` of each class (``stratified_holdout``: a class keeps at least one image to fit).
    Returns a bool array (folds, training images)."""
    n_folds = int(fold_of.max()) + 1
    validation = np.zeros((n_folds, len(labels)), dtype=bool)
    for k in range(n_folds):
        training = np.flatnonzero(fold_of != k)
        _, val = stratified_holdout(labels[training], fraction, seed + k)
        validation[k, training[val]] = True
    return validation


def fold_indices(split_path, folds_path, fold: int) -> dict[str, np.ndarray]:
    """Dataset indices for one fold: its training images ``train``, split into ``fit`` (all that
    any method fits, copies or synthesises from) and ``validation`` (real images that pick every
    network's epoch); its ``holdout``, the independent ``test`` set and its imbalanced
    subsample ``test_imbalanced``. With a balanced validation set in the split
    (``validation_per_class``), every fold fits all its training images and both its
    ``validation`` and its ``holdout`` are that set."""
    split = load_indices(split_path)
    saved = load_indices(folds_path)
    if "validation" not in saved:
        raise ValueError(
            f"{folds_path} has no validation images per fold (it was written by an older "
            "latentbalance); delete it and rerun (snakemake --forcerun folds)"
        )
    fold_of, validation = saved["fold"], saved["validation"][fold]
    if "validation" in split:  # a balanced validation set outside the pool chooses everything
        train = split["train"][fold_of != fold]
        return {
            "train": train,
            "fit": train,
            "validation": split["validation"],
            "holdout": split["validation"],
            "test": split["test"],
            "test_imbalanced": split["test_imbalanced"],
        }
    return {
        "train": split["train"][fold_of != fold],
        "fit": split["train"][(fold_of != fold) & ~validation],
        "validation": split["train"][validation],
        "holdout": split["train"][fold_of == fold],
        "test": split["test"],
        "test_imbalanced": split["test_imbalanced"],
    }


# parts of a fold's training images: never scored as a test set
FITTED = {"train", "fit", "validation"}


def test_indices(split_path, folds_path, fold: int, testset: str) -> np.ndarray:
    """The dataset indices of one test set (``test``, ``test_imbalanced`` or ``holdout``)."""
    parts = fold_indices(split_path, folds_path, fold)
    if testset not in parts or testset in FITTED:
        known = sorted(set(parts) - FITTED)
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


def training_set(images: np.ndarray, labels: np.ndarray, fit: np.ndarray, balanced_path):
    """A method's fit set: the fold's real fit images (dataset indices ``fit``) plus, for
    oversampling methods, the real images the balanced set repeats and its synthetic images.
    ``source`` is the dataset index of each real image and of each repeat or synthetic image that
    copies one (``ros``; -1 for an interpolated one); the real images come first, once each.

    Returns (images, labels, source); the images as ``ImageRows``, read when used."""
    fit_images, fit_labels, source = ImageRows([(images, fit)]), labels[fit], fit
    if not balanced_path:
        return fit_images, fit_labels, source
    with np.load(balanced_path, allow_pickle=False) as balanced:
        if not np.array_equal(balanced["real_indices"], fit):
            raise ValueError(
                f"{balanced_path} was made from other images than this fold's fit part; rerun "
                "oversample (snakemake --forcerun oversample)"
            )
        repeated = balanced["repeated_indices"]
        synthetic = np.load(synthetic_images_path(balanced_path), mmap_mode="r")
        return (
            ImageRows([(images, fit), (images, repeated), (synthetic, np.arange(len(synthetic)))]),
            np.concatenate([fit_labels, labels[repeated], balanced["synthetic_labels"]]),
            np.concatenate([fit, repeated, balanced["synthetic_sources"]]),
        )


def real_images_used(fitted_sources: np.ndarray, validation: np.ndarray) -> dict:
    """What a model file records of the real images behind a fit: the dataset indices of every
    real image fitted as itself, as a copy or as the source of a synthetic image
    (``fitted_sources``; -1, an interpolated image, made from fit images only, is left out), and
    of the validation images, each as a count and a digest, so that the fits of one fold can be
    shown to share them."""

    def described(indices):
        indices = np.unique(np.asarray(indices, dtype=np.int64))
        return {"count": len(indices), "sha256": hashlib.sha256(indices.tobytes()).hexdigest()}

    fitted = np.asarray(fitted_sources)
    return {"fitted": described(fitted[fitted >= 0]), "validation": described(validation)}
