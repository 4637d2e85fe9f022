"""Do synthetic images copy or collapse? Nearest-neighbour distances in pixel space.

Per class, three distances (root-mean-square per pixel, images scaled to [0, 1]):

- real -> real: each real training image to its nearest *other* real image of the class (how far
  apart genuine neighbours are);
- synthetic -> real: each synthetic image to its nearest real image of the class;
- synthetic -> synthetic: each synthetic image to its nearest other synthetic image of the class.

``copy_ratio`` = median(synthetic -> real) / median(real -> real): about 1 means synthetic images
sit as close to real ones as real ones sit to each other; near 0 means copies (random
oversampling gives exactly 0). ``diversity_ratio`` = median(synthetic -> synthetic) /
median(real -> real): near 0 means the synthetic images collapse onto a few points.
``exact_copies`` = share of synthetic images identical to a real image.
"""

from __future__ import annotations

import numpy as np
from sklearn import config_context
from sklearn.neighbors import NearestNeighbors

from ..data.image_dataset import ImageRows, read_rows


def _flat(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1).astype(np.float32) / 255.0


def _nearest(reference: np.ndarray, queries: np.ndarray, exclude_self: bool) -> np.ndarray:
    """Distance of each query to its nearest reference (skipping the query itself)."""
    k = 2 if exclude_self else 1
    if len(reference) < k:
        return np.full(len(queries), np.nan)
    distances, _ = NearestNeighbors(n_neighbors=k).fit(reference).kneighbors(queries)
    rms = distances[:, k - 1] / np.sqrt(reference.shape[1])
    # sklearn's Euclidean distance leaves rounding noise (~1e-8) for identical images; the
    # smallest real difference, one grey level in one pixel of 3x1024, is still above 1e-5
    return np.where(rms < 1e-6, 0.0, rms)


def _ratio(numerator: float, denominator: float) -> float:
    if np.isnan(numerator) or np.isnan(denominator):
        return float("nan")
    if denominator == 0:
        return float("nan") if numerator == 0 else float("inf")
    return float(numerator / denominator)


# The images of each kind and class the nearest-neighbour check compares: the first 2,000
# synthetic ones, and no more of either kind than fill CHECK_BYTES as floats (at 28-32 px every
# real image of a class, at 128 px RGB ~680), so the check's memory does not grow with the data.
CHECKED_PER_CLASS = 2000
CHECK_BYTES = 128 * 2**20
# scikit-learn's distance blocks (MB), kept under the images compared
WORKING_MEMORY_MB = 128


def checked_count(image_shape) -> int:
    """How many images of one kind and class fit ``CHECK_BYTES`` as float32."""
    return max(1, CHECK_BYTES // (4 * int(np.prod(image_shape))))


def first_per_class(labels: np.ndarray, count: int) -> np.ndarray:
    """The positions of the first ``count`` items of each class, in order."""
    rank = np.zeros(len(labels), np.int64)
    for cls in np.unique(labels):
        mine = labels == cls
        rank[mine] = np.arange(mine.sum())
    return np.flatnonzero(rank < count)


def _read(images, positions: np.ndarray) -> np.ndarray:
    """Rows ``positions`` of ``ImageRows`` or of an array (a memory-mapped one with ``pread``,
    so that its pages stay out of resident memory)."""
    return images.take(positions) if isinstance(images, ImageRows) else read_rows(images, positions)


def nearest_neighbour_check(
    real: np.ndarray,
    real_labels: np.ndarray,
    synthetic: np.ndarray,
    synthetic_labels: np.ndarray,
    class_names: list[str],
) -> dict:
    """Per-class medians and ratios, plus the overall ratios (synthetic-count-weighted means
    over the classes that received synthetic images). ``synthetic`` may be the memory-mapped
    synthetic set: each class's first images are read in turn (``CHECKED_PER_CLASS``,
    ``checked_count``), as are the real images of each class."""
    limit = checked_count(real.shape[1:])
    per_class = []
    for cls, name in enumerate(class_names):
        if not (synthetic_labels == cls).any():
            continue  # the majority class gets no synthetic images
        own_real = _flat(_read(real, np.flatnonzero(real_labels == cls)[:limit]))
        mine = np.flatnonzero(synthetic_labels == cls)[: min(limit, CHECKED_PER_CLASS)]
        own_synthetic = _flat(_read(synthetic, mine))
        with config_context(working_memory=WORKING_MEMORY_MB):
            real_real = float(np.median(_nearest(own_real, own_real, exclude_self=True)))
            to_real = _nearest(own_real, own_synthetic, exclude_self=False)
            synthetic_synthetic = float(
                np.median(_nearest(own_synthetic, own_synthetic, exclude_self=True))
            )
        synthetic_real = float(np.median(to_real))
        per_class.append(
            {
                "class": name,
                "n_real": len(own_real),
                "n_synthetic": len(own_synthetic),
                "real_to_real": real_real,
                "synthetic_to_real": synthetic_real,
                "synthetic_to_synthetic": synthetic_synthetic,
                "copy_ratio": _ratio(synthetic_real, real_real),
                "diversity_ratio": _ratio(synthetic_synthetic, real_real),
                "exact_copies": float(np.mean(to_real == 0)),
            }
        )
    overall = {}
    for key in ("copy_ratio", "diversity_ratio", "exact_copies"):
        values = np.array([row[key] for row in per_class], dtype=float)
        weights = np.array([row["n_synthetic"] for row in per_class], dtype=float)
        finite = np.isfinite(values)
        overall[key] = (
            float(np.average(values[finite], weights=weights[finite])) if finite.any() else None
        )
    return {"overall": overall, "per_class": per_class}
