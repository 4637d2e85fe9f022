"""Balancing classes with imbalanced-learn samplers, in latent or pixel space.

Each minority class is raised to the majority count on its own, so ``k_neighbors`` can be reduced
for that class alone when it is small. A class with one sample cannot be interpolated: it is
duplicated, with a warning, and the metadata says so.
"""

from __future__ import annotations

import logging

import numpy as np
from imblearn.over_sampling import SMOTE, RandomOverSampler

log = logging.getLogger(__name__)


def balance(features: np.ndarray, labels: np.ndarray, sampler: str, k_neighbors: int, seed: int):
    """Synthetic samples that bring every class up to the majority count.

    Returns (synthetic_features, synthetic_labels, per_class_info). ``features`` is 2-D.
    """
    counts = np.bincount(labels)
    target = int(counts.max())
    synthetic, synthetic_labels, info = [], [], {}
    for cls, n_real in enumerate(counts):
        entry = {"real": int(n_real), "synthetic": int(target - n_real)}
        info[int(cls)] = entry
        if n_real == 0 or n_real == target:
            entry["how"] = "none"
            continue
        strategy = {cls: target}
        if sampler == "ros" or n_real == 1:
            if sampler != "ros":
                log.warning(
                    "class %s has a single training sample: duplicating it %d times instead of %s",
                    cls,
                    target - n_real,
                    sampler,
                )
            resampler = RandomOverSampler(sampling_strategy=strategy, random_state=seed + cls)
            entry["how"] = "duplicate"
        elif sampler == "smote":
            k = min(k_neighbors, int(n_real) - 1)
            resampler = SMOTE(sampling_strategy=strategy, k_neighbors=k, random_state=seed + cls)
            entry["how"], entry["k_neighbors"] = "smote", k
        else:
            raise ValueError(f"unknown sampler {sampler!r}")
        resampled, resampled_labels = resampler.fit_resample(features, labels)
        # imbalanced-learn appends the new samples after the originals
        synthetic.append(resampled[len(features) :])
        synthetic_labels.append(resampled_labels[len(features) :])

    width = features.shape[1]
    synthetic = np.concatenate(synthetic) if synthetic else np.empty((0, width), features.dtype)
    synthetic_labels = (
        np.concatenate(synthetic_labels) if synthetic_labels else np.empty(0, np.int64)
    )
    final = counts + np.bincount(synthetic_labels, minlength=len(counts))
    assert np.all((final == target) | (counts == 0)), f"unbalanced after sampling: {final}"
    return synthetic, synthetic_labels.astype(np.int64), info
