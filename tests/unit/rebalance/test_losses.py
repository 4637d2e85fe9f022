"""The long-tail losses against hand computations: each at its neutral setting is cross-entropy."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from latentbalance.rebalance.losses import (
    MethodLoss,
    class_balanced_weights,
    fit_set_loss,
    ldam_loss,
    ldam_margins,
    logit_adjusted_cross_entropy,
    weighted_cross_entropy,
)
from latentbalance.rebalance.methods import parse_method
from latentbalance.settings.recipes import LossRecipe

LOGITS = torch.tensor([[2.0, 0.5, -1.0], [0.1, 0.2, 0.3], [-0.5, 1.5, 0.0]])
TARGET = torch.tensor([0, 2, 1])
COUNTS = [100, 10, 1]


def test_logit_adjusted_loss_at_tau_zero_is_cross_entropy():
    log_prior = torch.log(torch.tensor([0.9, 0.09, 0.01]))
    neutral = logit_adjusted_cross_entropy(LOGITS, TARGET, log_prior, 0.0)
    assert neutral.item() == pytest.approx(F.cross_entropy(LOGITS, TARGET).item())


def test_logit_adjusted_loss_matches_a_hand_computation():
    prior = [0.5, 0.3, 0.2]
    logits = torch.tensor([[1.0, 0.0, 0.0]])
    adjusted = [1.0 + math.log(0.5), math.log(0.3), math.log(0.2)]
    # target class 1: -log softmax(adjusted)[1]
    expected = -(adjusted[1] - math.log(sum(math.exp(a) for a in adjusted)))
    loss = logit_adjusted_cross_entropy(
        logits, torch.tensor([1]), torch.log(torch.tensor(prior)), 1
    )
    assert loss.item() == pytest.approx(expected)


def test_la_loss_at_its_default_tau_is_balanced_softmax():
    """Balanced Softmax (Ren et al.): each class's exponential scaled by its count; la-loss at
    τ = 1 computes exactly that, which is why it is not trained a second time."""
    settings = LossRecipe.from_config({})
    assert settings.la_tau == 1.0
    balanced = MethodLoss("la-loss", [5, 5, 5], settings, epochs=10)
    assert balanced(LOGITS, TARGET, 1).item() == pytest.approx(
        F.cross_entropy(LOGITS, TARGET).item()
    )
    skewed = MethodLoss("la-loss", COUNTS, settings, epochs=10)
    # n_c · exp(z_c) normalised, by hand
    weighted = np.array(COUNTS) * np.exp(LOGITS[1].numpy())
    assert skewed(LOGITS[1:2], torch.tensor([2]), 1).item() == pytest.approx(
        -math.log(weighted[2] / weighted.sum()), rel=1e-5
    )


def test_a_weighted_loss_divides_by_the_weights_for_soft_targets_as_for_hard_labels():
    weights = torch.tensor([0.1, 1.0, 5.0])
    one_hot = F.one_hot(TARGET, 3).float()
    hard = weighted_cross_entropy(LOGITS, TARGET, weights)
    assert hard.item() == pytest.approx(F.cross_entropy(LOGITS, TARGET, weight=weights).item())
    # the same labels as soft targets (CutMix / MixUp rows) give the same loss
    assert weighted_cross_entropy(LOGITS, one_hot, weights).item() == pytest.approx(hard.item())
    # a blend: sum over rows and classes of w_c p_c (-log q_c), divided by the sum of w_c p_c
    soft = torch.tensor([[0.7, 0.3, 0.0], [0.0, 0.5, 0.5], [0.2, 0.0, 0.8]])
    log_q = F.log_softmax(LOGITS, dim=1)
    expected = -(soft * weights * log_q).sum() / (soft * weights).sum()
    assert weighted_cross_entropy(LOGITS, soft, weights).item() == pytest.approx(expected.item())


def test_deferred_reweighting_keeps_its_strength_under_soft_targets():
    """With soft targets PyTorch's weighted cross-entropy divides by the batch size, not the
    weights' sum: re-weighting shrank by the mean weight. DRW's loss on one-hot soft targets now
    equals its loss on the hard labels."""
    settings = LossRecipe.from_config({"drw_from": 0.0, "drw_beta": 0.999})
    for method in ("ldam-drw", "mixup-drw", "remix-drw"):
        loss = MethodLoss(method, COUNTS, settings, epochs=10)
        hard = loss(LOGITS, TARGET, 5)
        assert loss(LOGITS, F.one_hot(TARGET, 3).float(), 5).item() == pytest.approx(hard.item())
        assert hard.item() != pytest.approx(MethodLoss(method, COUNTS, settings, 10)(
            LOGITS, TARGET, 0).item())  # fmt: skip


def test_mixup_and_remix_drw_are_cross_entropy_until_reweighting_starts():
    settings = LossRecipe.from_config({"drw_from": 0.5})
    for method in ("mixup-drw", "remix-drw"):
        loss = MethodLoss(method, COUNTS, settings, epochs=10)
        assert loss.mixing == method.removesuffix("-drw")
        plain = F.cross_entropy(LOGITS, TARGET).item()
        assert loss(LOGITS, TARGET, 5).item() == pytest.approx(plain)
        reweighted = F.cross_entropy(LOGITS, TARGET, weight=loss.drw_weights).item()
        assert loss(LOGITS, TARGET, 6).item() == pytest.approx(reweighted)


def test_ldam_margins_scale_as_the_inverse_fourth_root_with_the_largest_half():
    margins = ldam_margins([10000, 625, 16, 1], max_margin=0.5).numpy()
    # n^(-1/4) = 0.1, 0.2, 0.5, 1: scaled so that the rarest class's is 0.5
    assert margins == pytest.approx([0.05, 0.1, 0.25, 0.5])


def test_ldam_at_margin_zero_and_no_weights_is_cross_entropy():
    zero = torch.zeros(3)
    assert ldam_loss(LOGITS, TARGET, zero, 30.0).item() == pytest.approx(
        F.cross_entropy(LOGITS, TARGET).item()
    )


def test_ldam_subtracts_the_scaled_margin_from_the_true_class_only():
    margins = torch.tensor([0.1, 0.2, 0.5])
    shifted = LOGITS.clone()
    for row, cls in enumerate(TARGET.tolist()):
        shifted[row, cls] -= 30.0 * margins[cls]
    expected = F.cross_entropy(shifted, TARGET)
    assert ldam_loss(LOGITS, TARGET, margins, 30.0).item() == pytest.approx(expected.item())
    # a MixUp blend subtracts each class's share of its margin
    soft = torch.tensor([[0.5, 0.5, 0.0]])
    blended = LOGITS[:1] - 30.0 * torch.tensor([[0.05, 0.1, 0.0]])
    assert ldam_loss(LOGITS[:1], soft, margins, 30.0).item() == pytest.approx(
        F.cross_entropy(blended, soft).item()
    )


def test_class_balanced_weights_by_hand_and_neutral_at_beta_zero():
    beta = 0.9
    raw = [(1 - beta) / (1 - beta**n) for n in (1, 2)]
    expected = [w * 2 / sum(raw) for w in raw]
    assert class_balanced_weights([1, 2], beta).numpy() == pytest.approx(expected)
    assert class_balanced_weights([100, 10, 1], 0.0).numpy() == pytest.approx([1, 1, 1])


def test_deferred_reweighting_starts_after_the_configured_share_of_epochs():
    settings = LossRecipe.from_config({"ldam_max_margin": 0.5, "drw_from": 0.8, "drw_beta": 0.9})
    loss = MethodLoss("ldam-drw", COUNTS, settings, epochs=10)
    plain = ldam_loss(LOGITS, TARGET, loss.margins, loss.scale)
    weighted = ldam_loss(LOGITS, TARGET, loss.margins, loss.scale, loss.drw_weights)
    # epochs 1-8 unweighted, 9 and 10 (the last 20 %) re-weighted
    assert loss(LOGITS, TARGET, 8).item() == pytest.approx(plain.item())
    assert loss(LOGITS, TARGET, 9).item() == pytest.approx(weighted.item())
    assert weighted.item() != pytest.approx(plain.item())


def test_plain_and_weighted_cross_entropy_stay_as_they_were():
    assert MethodLoss("none")(LOGITS, TARGET, 1).item() == pytest.approx(
        F.cross_entropy(LOGITS, TARGET).item()
    )
    weights = torch.tensor([0.2, 1.0, 3.0])
    assert MethodLoss("weighted", class_weights=weights)(LOGITS, TARGET, 1).item() == pytest.approx(
        F.cross_entropy(LOGITS, TARGET, weight=weights).item()
    )


def test_the_fit_sets_loss_weighs_classes_by_its_counts():
    """``weighted``: scikit-learn's balanced weights n / (n_classes · n_c), so that each class
    weighs as much in total; a long-tail loss takes the fit set's counts, a class it lacks
    included."""
    labels = np.repeat([0, 1], [30, 10])  # class 2 absent from the fit set
    weighted = fit_set_loss(parse_method("weighted"), labels, 2, LossRecipe.from_config({}), 10)
    assert weighted.class_weights.tolist() == pytest.approx([40 / (2 * 30), 40 / (2 * 10)])
    assert (np.bincount(labels) * weighted.class_weights.numpy()).tolist() == pytest.approx(
        [20, 20]
    )
    settings = LossRecipe.from_config({"la_tau": 1.0})
    la = fit_set_loss(parse_method("la-loss"), labels, 3, settings, 10)
    assert la.class_weights is None
    # log prior of 30 / 10 / 0 images (an absent class counts as one)
    assert la.log_prior.exp().tolist() == pytest.approx([30 / 41, 10 / 41, 1 / 41])
    plain = fit_set_loss(parse_method("none"), labels, 3, settings, 10)
    assert plain(LOGITS, TARGET, 1).item() == pytest.approx(F.cross_entropy(LOGITS, TARGET).item())
