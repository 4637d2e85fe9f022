"""Class probabilities from a trained classifier, and the post-hoc logit adjustment."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..training.runtime import Precision
from ..training.tensors import run_in_batches


def scoring_precision(device: torch.device) -> Precision:
    """What classifiers score in, whatever they trained in: fp32. bf16 autocast keeps 8 bits of
    mantissa in the logits, which flips near ties; scoring a test set in fp32 costs under a
    second."""
    return Precision(device, "fp32")


def predict_proba(
    model: nn.Module,
    images,
    batch_size: int,
    device: torch.device,
    test_time_flip: bool = False,
) -> np.ndarray:
    """Class probabilities of ``images`` (a float tensor, or ``ImageRows`` read batch by batch),
    computed in fp32 (``scoring_precision``); with ``test_time_flip``,
    the mean of those of each image and its horizontal mirror (for classifiers trained with
    random flips: an image and its mirror then get the same answer)."""
    precision = scoring_precision(device)
    model = precision.prepare(model.to(device)).eval()
    probabilities = torch.softmax(run_in_batches(model, images, batch_size, device, precision), 1)
    if test_time_flip:
        # mirrored batch by batch: the images may be ImageRows of the cache, read per batch
        mirrored = run_in_batches(
            lambda batch: model(batch.flip(-1)), images, batch_size, device, precision
        )
        probabilities = (probabilities + torch.softmax(mirrored, 1)) / 2
    return probabilities.numpy()


def predict_sets(
    model: nn.Module,
    dataset,
    wanted: dict[str, np.ndarray],
    pools: dict[str, np.ndarray],
    batch_size: int,
    device: torch.device,
    test_time_flip: bool = False,
) -> dict[str, np.ndarray]:
    """Class probabilities (``predict_proba``) of each ``wanted`` set of ``dataset`` indices. A
    set whose images all lie in a larger one of ``pools`` (the imbalanced test set in the test
    set) takes its rows of that pool's classification: no image is classified twice, and each
    set gets the same probabilities whatever else is scored (batch composition moves their last
    bits)."""
    classified: dict[str, np.ndarray] = {}
    probabilities = {}
    for name, indices in wanted.items():
        source, rows = name, None
        for pool_name, pool in pools.items():
            if len(pool) > len(indices) and np.isin(indices, pool).all():
                order = np.argsort(pool, kind="stable")
                source, rows = pool_name, order[np.searchsorted(pool, indices, sorter=order)]
                break
        if source not in classified:
            images = dataset.view(indices if rows is None else pools[source])
            classified[source] = predict_proba(model, images, batch_size, device, test_time_flip)
        probabilities[name] = classified[source] if rows is None else classified[source][rows]
    return probabilities


def logit_adjusted(probabilities: np.ndarray, prior: np.ndarray, tau: float) -> np.ndarray:
    """Post-hoc logit adjustment (Menon et al., ICLR 2021): each class's probability divided by
    its training prior to the power ``tau``, renormalised. ``tau = 1`` is the decision that
    maximises balanced accuracy when the probabilities follow the training prior (it undoes
    the imbalance a method left); 0 leaves them as they are."""
    if tau == 0:
        return probabilities
    adjusted = probabilities / np.asarray(prior, dtype=np.float64) ** tau
    return (adjusted / adjusted.sum(1, keepdims=True)).astype(probabilities.dtype)
