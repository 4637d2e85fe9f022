"""A stratified paired bootstrap over the test images, pooled over the folds.

Every fold's models classify the same test images (the independent test set is one set), so the
noise of which images that set holds is common to all folds: the spread of the folds' scores does
not show it. Each resample draws every class's images with replacement within the class (a test
set's class counts are fixed by its design, and a class left out would make ACSA undefined), the
same draw for every model and every fold that holds those images; each model's metric is
recomputed per fold and averaged over the folds. The fold holdouts are different images in each
fold, so each fold gets its own draw there.

The metrics are computed from confusion matrices of all resamples at once: scikit-learn's
functions per resample would take minutes for B = 1000 on a 10,000-image test set.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .metrics import METRICS

# resamples per batch: bounds the (batch x images) index array in memory
BATCH = 100


def scores_from_confusion(matrices: np.ndarray) -> dict[str, np.ndarray]:
    """Every metric of ``metrics.compute_metrics`` from confusion matrices (..., true, predicted)
    whose every class is present among the true labels."""
    matrices = np.asarray(matrices, dtype=float)
    hits = np.diagonal(matrices, axis1=-2, axis2=-1)
    actual, predicted = matrices.sum(axis=-1), matrices.sum(axis=-2)
    total = actual.sum(axis=-1)
    recall = hits / actual
    f1_denominator = actual + predicted
    f1 = np.divide(2 * hits, f1_denominator, out=np.zeros_like(hits), where=f1_denominator > 0)
    negatives = total[..., None] - actual
    specificity = (negatives - (predicted - hits)) / negatives
    n_classes = matrices.shape[-1]
    return {
        "accuracy": hits.sum(axis=-1) / total,
        "acsa": recall.mean(axis=-1),
        "macro_f1": f1.mean(axis=-1),
        "gmean_multiclass": np.prod(recall, axis=-1) ** (1 / n_classes),
        "gmean_macro": np.sqrt(recall.mean(axis=-1) * specificity.mean(axis=-1)),
    }


def _confusions(true, predicted, draws, n_classes) -> np.ndarray:
    """Confusion matrices (resamples x classes x classes) of the resampled images ``draws``."""
    codes = true[draws] * n_classes + predicted[draws]
    offsets = np.arange(len(draws))[:, None] * n_classes**2
    counts = np.bincount((codes + offsets).ravel(), minlength=len(draws) * n_classes**2)
    return counts.reshape(len(draws), n_classes, n_classes)


def _draws(true: np.ndarray, resamples: int, rng) -> np.ndarray:
    """Positions of the resampled images, resamples x images, stratified by true class."""
    columns = []
    for label in np.unique(true):
        members = np.flatnonzero(true == label)
        columns.append(members[rng.integers(0, len(members), (resamples, len(members)))])
    return np.concatenate(columns, axis=1)


def resampled_scores(predictions: dict, resamples: int, seed: int) -> dict:
    """Every model's metrics averaged over folds, in each of ``resamples`` paired resamples.

    ``predictions`` maps model -> fold -> frame with columns index (the image), true and
    predicted. Only folds that every model has are used. Returns model -> metric -> array of
    ``resamples`` values (empty dict when fewer than two models or no common fold)."""
    models = list(predictions)
    folds = sorted(set.intersection(*(set(predictions[m]) for m in models))) if models else []
    if len(models) < 2 or not folds:
        return {}
    n_classes = 1 + max(
        int(max(frame["true"].max(), frame["predicted"].max()))
        for model in models
        for frame in predictions[model].values()
    )
    rng = np.random.default_rng(seed)
    totals = {m: {name: np.zeros(resamples) for name in METRICS} for m in models}
    shared = {}  # one draw per set of images: the same for every fold that holds the same images
    for fold in folds:
        frames = {m: predictions[m][fold].set_index("index").sort_index() for m in models}
        images = frames[models[0]].index
        for model, frame in frames.items():
            if not frame.index.equals(images) or not np.array_equal(
                frame["true"], frames[models[0]]["true"]
            ):
                raise ValueError(
                    f"fold {fold}: {model} and {models[0]} do not classify the same test "
                    "images; a paired bootstrap needs the same images"
                )
        true = frames[models[0]]["true"].to_numpy(dtype=np.int64)
        key = tuple(images)
        if key not in shared:
            shared[key] = _draws(true, resamples, rng).astype(np.int32)
        draws = shared[key]
        for model, frame in frames.items():
            guess = frame["predicted"].to_numpy(dtype=np.int64)
            for start in range(0, resamples, BATCH):
                batch = draws[start : start + BATCH]
                scores = scores_from_confusion(_confusions(true, guess, batch, n_classes))
                for name in METRICS:
                    totals[model][name][start : start + len(batch)] += scores[name]
    return {m: {name: v / len(folds) for name, v in totals[m].items()} for m in models}


def read_predictions(paths) -> dict:
    """Prediction files ``.../fold<k>/eval/<method>/<arch>/<testset>/predictions.csv`` as
    testset -> (method, arch) -> fold -> frame (index, true, predicted)."""
    found: dict = {}
    for path in paths:
        parts = str(path).split("/")
        fold, method, arch, testset = parts[-6], parts[-4], parts[-3], parts[-2]
        frame = pd.read_csv(path, usecols=["index", "true", "predicted"])
        found.setdefault(testset, {}).setdefault((method, arch), {})[
            int(fold.removeprefix("fold"))
        ] = frame
    return found
