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


def test_balanced_softmax_is_cross_entropy_on_a_balanced_set_and_boosts_rare_classes():
    settings = LossRecipe.from_config({})
    balanced = MethodLoss("balanced-softmax", [5, 5, 5], settings, epochs=10)
    assert balanced(LOGITS, TARGET, 1).item() == pytest.approx(
        F.cross_entropy(LOGITS, TARGET).item()
    )
    skewed = MethodLoss("balanced-softmax", COUNTS, settings, epochs=10)
    # a rare class's image costs more than under cross-entropy: its logit must win by more
    rare = torch.tensor([2])
    assert skewed(LOGITS[1:2], rare, 1) > F.cross_entropy(LOGITS[1:2], rare)
    # n_c · exp(z_c) normalised, by hand
    weighted = np.array(COUNTS) * np.exp(LOGITS[1].numpy())
    assert skewed(LOGITS[1:2], rare, 1).item() == pytest.approx(
        -math.log(weighted[2] / weighted.sum()), rel=1e-5
    )


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
