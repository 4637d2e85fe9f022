"""Data preparation steps: cache the dataset, draw the imbalanced split, assign folds.

Kept apart from the training steps so these jobs start without importing torch.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..io import write_csv
from ..verdict import plots
from .cache import remove_leftovers
from .image_dataset import load_labels
from .sources import cache_source
from .splits import (
    assign_folds,
    assign_validation,
    balanced_validation,
    imbalance_counts,
    imbalanced_test_counts,
    load_indices,
    make_split,
    save_indices,
    subsample_to_counts,
)

log = logging.getLogger(__name__)


def download(source: str, *, out: dict, workers: int = 1, **settings) -> None:
    """Read the source once into the image cache ``out["images"]`` (``images.npy`` and its
    labels file), decoding image files with ``workers`` processes; list the image files skipped
    as unreadable (only with ``skip_bad_images``) in ``out["skipped"]``. ``settings``: the
    dataset's other keys, as ``load_source`` takes them (root, download, image_size, ...)."""
    skipped = []
    remove_leftovers(out["images"])
    labels, class_names, shape = cache_source(source, out["images"], skipped, workers, **settings)
    counts = np.bincount(labels, minlength=len(class_names))
    log.info(
        "%s: %d images %s, per class %s",
        source,
        len(labels),
        shape,
        dict(zip(class_names, counts.tolist(), strict=True)),
    )
    if skipped:
        log.warning(
            "skipped %d unreadable image file(s), listed in %s", len(skipped), out["skipped"]
        )
    write_csv(
        pd.DataFrame(
            {"file": [str(e.path) for e in skipped], "reason": [e.reason for e in skipped]}
        ),
        out["skipped"],
    )


def split(
    images_path,
    *,
    test_fraction: float,
    validation_per_class: int | None,
    imbalance: dict,
    seed: int,
    out: dict,
) -> None:
    """Draw the independent test set and the imbalanced training set (``out["split"]``, indices),
    the imbalanced test subsample and, with ``validation_per_class``, a balanced validation set
    outside both; count each part per class (``out["summary"]``, plotted to ``out["plot"]`` when
    given). Reads the cache's labels only (``images_path``: the cache)."""
    labels, class_names = load_labels(images_path)
    n_classes = len(class_names)
    if imbalance.get("counts"):
        counts = list(imbalance["counts"])
    else:
        counts = imbalance_counts(n_classes, imbalance["ratio"], imbalance["max_per_class"])
    parts = make_split(labels, test_fraction, counts, seed, class_names)
    # the imbalanced test set: a subsample of the independent test set with the training profile
    test_counts = imbalanced_test_counts(
        np.bincount(labels[parts["test"]], minlength=n_classes),
        counts,
        imbalance.get("test_counts"),
    )
    parts["test_imbalanced"] = subsample_to_counts(
        labels, parts["test"], test_counts, seed + 2, class_names
    )
    if validation_per_class:
        parts["validation"] = balanced_validation(
            labels, parts, validation_per_class, seed + 3, class_names
        )
    summary = pd.DataFrame(
        {
            "class": class_names,
            **{
                name: np.bincount(labels[parts[name]], minlength=n_classes)
                for name in ("train", "test", "test_imbalanced", "validation")
                if name in parts
            },
        }
    )
    log.info("split:\n%s", summary.to_string(index=False))
    save_indices(out["split"], **parts)
    write_csv(summary, out["summary"])
    if out.get("plot"):
        plots.plot_class_counts(summary, out["plot"])


def folds(
    images_path, split_path, *, n_folds: int, validation_fraction: float, seed: int, out: dict
) -> None:
    """Assign each training image of the split to one of ``n_folds`` stratified folds, and draw
    each fold's validation images among its training images (``out["folds"]``). Reads the
    cache's labels only."""
    labels, _ = load_labels(images_path)
    train_labels = labels[load_indices(split_path)["train"]]
    fold_of = assign_folds(train_labels, n_folds, seed)
    validation = assign_validation(train_labels, fold_of, validation_fraction, seed + 1)
    save_indices(out["folds"], fold=fold_of, validation=validation)
