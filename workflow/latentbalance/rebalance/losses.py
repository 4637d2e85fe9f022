"""Long-tail losses: the classifier trains on the fold's imbalanced images as ``none`` does, and
only the loss (and, for the mixing methods, the batch mixing) changes. Every loss takes hard
labels or the soft targets of MixUp / CutMix / Remix.

- ``la-loss``: logit-adjusted cross-entropy (Menon et al., ICLR 2021): τ·log(prior) is added to
  the logits inside the loss, so that the raw logits learn the balanced posterior. At τ = 1 (the
  default) it is Balanced Softmax (Ren et al., NeurIPS 2020): log(count) added to the logits is
  the same loss (a softmax ignores a constant shift), so it is not trained a second time.
- ``ldam-drw`` (Cao et al., NeurIPS 2019): a margin ∝ n_c^(-1/4) (the largest 0.5) subtracted
  from the true class's cosine, scaled by s = 30, on a cosine classifier layer
  (``nets.classifiers.CosineLinear``); deferred re-weighting (DRW) switches class-balanced
  weights (Cui et al., β = 0.9999) on for the last part of the epochs.
- ``mixup-drw``: cross-entropy with DRW on MixUp batches; ``remix-drw``: the same on Remix
  batches (``training.augmentation.remix``), as ntucllab/imbalanced-DL trains them.

A weighted loss divides by the sum of its weights, for soft targets as for hard labels
(``weighted_cross_entropy``).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .methods import DRW_METHODS, LOSS_METHODS, MIXING, Method


def soft_targets(target: torch.Tensor, n_classes: int) -> torch.Tensor:
    """One row of class probabilities per sample, for hard labels and MixUp's blends alike."""
    return F.one_hot(target, n_classes).float() if target.dim() == 1 else target


def weighted_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy weighted per class: each sample's loss weighs its target's weight (a soft
    target: the blend of its classes' weights), and the sum divides by the sum of those weights.
    With hard labels this is ``F.cross_entropy(weight=...)``; with soft targets PyTorch divides
    by the batch size instead, which scales re-weighting down by the mean weight."""
    if weights is None:
        return F.cross_entropy(logits, target)
    probabilities = soft_targets(target, logits.shape[1])
    weighted = probabilities * weights.to(logits)
    return -(weighted * F.log_softmax(logits, dim=1)).sum() / weighted.sum()


def logit_adjusted_cross_entropy(
    logits: torch.Tensor, target: torch.Tensor, log_prior: torch.Tensor, tau: float
) -> torch.Tensor:
    """Cross-entropy of ``logits + tau * log_prior``; τ = 0 is plain cross-entropy."""
    return F.cross_entropy(logits + tau * log_prior.to(logits), target)


def ldam_margins(counts, max_margin: float) -> torch.Tensor:
    """LDAM's per-class margins, ∝ n_c^(-1/4) and scaled so that the rarest class's is
    ``max_margin``."""
    margins = 1.0 / np.power(np.asarray(counts, dtype=float), 0.25)
    return torch.tensor(margins * (max_margin / margins.max()), dtype=torch.float32)


def class_balanced_weights(counts, beta: float) -> torch.Tensor:
    """Cui et al.'s weights (1 - β) / (1 - β^n_c), normalised to sum to the number of classes;
    β = 0 weighs every class 1."""
    counts = np.asarray(counts, dtype=float)
    weights = (1.0 - beta) / (1.0 - np.power(beta, counts))
    return torch.tensor(weights * len(counts) / weights.sum(), dtype=torch.float32)


def ldam_loss(
    cosine_logits: torch.Tensor,
    target: torch.Tensor,
    margins: torch.Tensor,
    scale: float,
    weights: torch.Tensor | None = None,
) -> torch.Tensor:
    """LDAM on the scaled cosines ``cosine_logits`` (= scale · cos): the true class's logit less
    scale · its margin (a soft target subtracts each class's share of its margin), then
    (weighted) cross-entropy. At margin 0 and no weights it is cross-entropy."""
    probabilities = soft_targets(target, cosine_logits.shape[1])
    shifted = cosine_logits - scale * probabilities * margins.to(cosine_logits)
    return weighted_cross_entropy(shifted, target, weights)


class MethodLoss:
    """The training loss of one method at a given epoch: ``loss(logits, target, epoch)``.

    ``counts`` are the fit set's images per class; ``settings`` the ``losses`` block's recipe
    (:class:`~latentbalance.settings.recipes.LossRecipe`).
    ``class_weights`` (``weighted``) weigh plain cross-entropy."""

    def __init__(self, method: str, counts=None, settings=None, epochs=0, class_weights=None):
        self.method, self.class_weights = method, class_weights
        # the batch mixing the method trains with (None: classifier.augment's), and its settings
        self.mixing = MIXING.get(method)
        if method not in LOSS_METHODS:
            return
        counts = np.maximum(np.asarray(counts, dtype=float), 1.0)
        self.counts = counts
        if method == "remix-drw":
            self.remix = (float(settings.remix_kappa), float(settings.remix_tau))
        self.log_prior = torch.log(torch.tensor(counts / counts.sum(), dtype=torch.float32))
        if method == "la-loss":
            self.tau = float(settings.la_tau)
        if method == "ldam-drw":
            self.margins = ldam_margins(counts, settings.ldam_max_margin)
            self.scale = float(settings.ldam_scale)
        if method in DRW_METHODS:
            self.drw_weights = class_balanced_weights(counts, settings.drw_beta)
            # the papers re-weight for the last 20 % of the epochs (from 160 of 200)
            self.drw_from = int(np.floor(settings.drw_from * epochs)) + 1

    def to(self, device) -> MethodLoss:
        """The loss with its class tensors on ``device``, moved once rather than every step."""
        for name in ("class_weights", "log_prior", "margins", "drw_weights"):
            if getattr(self, name, None) is not None:
                setattr(self, name, getattr(self, name).to(device))
        return self

    def __call__(self, logits: torch.Tensor, target: torch.Tensor, epoch: int) -> torch.Tensor:
        if self.method == "la-loss":
            return logit_adjusted_cross_entropy(logits, target, self.log_prior, self.tau)
        if self.method in DRW_METHODS:
            weights = self.drw_weights if epoch >= self.drw_from else None
            if self.method == "ldam-drw":
                return ldam_loss(logits, target, self.margins, self.scale, weights)
            return weighted_cross_entropy(logits, target, weights)
        return weighted_cross_entropy(logits, target, self.class_weights)


def fit_set_loss(method: Method, fit_labels: np.ndarray, n_classes: int, settings, epochs: int):
    """The training loss of ``method`` on a fit set with labels
    ``fit_labels``: ``weighted`` weighs cross-entropy with scikit-learn's balanced class weights
    (n / (n_classes · n_c)); the long-tail losses take the fit set's class counts."""
    class_weights = None
    if method.class_weighted:
        # imported here: scikit-learn takes seconds to import, and only this method needs it
        from sklearn.utils.class_weight import compute_class_weight

        weights = compute_class_weight("balanced", classes=np.arange(n_classes), y=fit_labels)
        class_weights = torch.tensor(weights, dtype=torch.float32)
    counts = np.bincount(fit_labels, minlength=n_classes)
    return MethodLoss(method.loss, counts, settings, epochs, class_weights)
