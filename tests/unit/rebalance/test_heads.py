"""The two-stage heads: EOS's generator, the head training sets, and the new layer's fit."""

import numpy as np
import pytest
import torch

from latentbalance.nets.classifiers import build_resnet
from latentbalance.rebalance.heads import (
    eos_samples,
    fit_head,
    head_batches,
    head_optimizer,
    head_training_set,
    penultimate_features,
)
from latentbalance.settings.recipes import HeadRecipe
from latentbalance.training.runtime import Precision


def overlapping_classes(seed=0):
    """Three classes of 2-D points, 60 / 15 / 5, the minorities close to the majority."""
    rng = np.random.default_rng(seed)
    counts, centres = [60, 15, 5], [(0, 0), (1.0, 0), (0, 1.0)]
    features = np.concatenate(
        [rng.normal(c, 0.6, (n, 2)) for n, c in zip(counts, centres, strict=True)]
    )
    labels = np.repeat(np.arange(3), counts)
    return features.astype(np.float32), labels


def on_segment(point, a, b, tol=1e-5):
    """Whether ``point`` lies on the segment from ``a`` to ``b``."""
    direction = b - a
    u = np.dot(point - a, direction) / np.dot(direction, direction)
    return -tol <= u <= 1 + tol and np.allclose(a + u * direction, point, atol=tol)


def test_eos_counts_are_exact_and_every_point_lies_toward_an_enemy():
    features, labels = overlapping_classes()
    k = 10
    new, new_labels = eos_samples(features, labels, k, np.random.default_rng(1))
    counts = np.bincount(np.concatenate([labels, new_labels]), minlength=3)
    assert counts.tolist() == [60, 60, 60]
    # each new point is x + u (e - x): x of its class with e among x's k neighbours, of another
    from sklearn.neighbors import NearestNeighbors

    neighbours = NearestNeighbors(n_neighbors=k).fit(features).kneighbors()[1]
    for point, cls in zip(new, new_labels, strict=True):
        found = False
        for base in np.flatnonzero(labels == cls):
            enemies = [e for e in neighbours[base] if labels[e] != cls]
            if any(on_segment(point, features[base], features[e]) for e in enemies):
                found = True
                break
        assert found, (point, cls)


def test_eos_is_the_same_under_a_seed_and_differs_under_another():
    features, labels = overlapping_classes()
    first = eos_samples(features, labels, 10, np.random.default_rng(3))
    again = eos_samples(features, labels, 10, np.random.default_rng(3))
    other = eos_samples(features, labels, 10, np.random.default_rng(4))
    assert np.array_equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_eos_class_far_from_the_others_still_reaches_the_majority_along_its_nearest_enemies():
    rng = np.random.default_rng(0)
    majority = rng.normal(0, 0.1, (30, 2))
    apart = rng.normal(50, 0.1, (4, 2))  # no enemy among any point's 3 nearest neighbours
    features = np.concatenate([majority, apart]).astype(np.float32)
    labels = np.repeat([0, 1], [30, 4])
    new, new_labels = eos_samples(features, labels, 3, np.random.default_rng(0))
    assert np.bincount(new_labels).tolist() == [0, 26]
    # between the class and the majority, never beyond either
    assert (new.min(axis=0) >= features.min(axis=0) - 1e-5).all()
    assert (new.max(axis=0) <= 50.5).all()


def test_eos_spreads_its_points_over_the_whole_segment_to_the_enemy():
    """u ~ U(0, 1): new points reach from the minority point all the way to its enemy, half of
    them beyond the midpoint."""
    rng = np.random.default_rng(0)
    majority = rng.normal((3.0, 0.0), 0.5, (200, 2))
    features = np.concatenate([majority, [[0.0, 0.0]]]).astype(np.float32)
    labels = np.repeat([0, 1], [200, 1])
    # k = 1: the one minority point's one neighbour is its enemy, so every new point lies on
    # that one segment
    new, _ = eos_samples(features, labels, 1, np.random.default_rng(1))
    base, enemy = features[200], features[np.argmin(np.linalg.norm(majority, axis=1))]
    u = (new - base) @ (enemy - base) / np.dot(enemy - base, enemy - base)
    assert np.allclose(base + u[:, None] * (enemy - base), new, atol=1e-5)
    assert len(u) == 199 and u.min() >= 0 and u.max() <= 1
    assert u.min() < 0.05 and u.max() > 0.95
    assert 0.4 < (u > 0.5).mean() < 0.6


def test_head_training_sets_balance_every_class():
    features, labels = overlapping_classes()
    recipe = HeadRecipe.from_config({"smote_neighbors": 3})
    for head in ("smote-feat", "eos"):
        _, fit_labels = head_training_set(head, features, labels, recipe, seed=0)
        assert np.bincount(fit_labels).tolist() == [60, 60, 60], head
    # cRT fits the real features alone: its draws balance them
    crt_features, crt_labels = head_training_set("crt", features, labels, recipe, 0)
    assert np.array_equal(crt_features, features) and np.array_equal(crt_labels, labels)


def test_smote_neighbours_no_class_can_reach_are_refused_naming_the_key():
    features, labels = overlapping_classes()
    with pytest.raises(ValueError, match="'heads.smote_neighbors' is 60, but the largest class"):
        head_training_set(
            "smote-feat", features, labels, HeadRecipe.from_config({"smote_neighbors": 60}), 0
        )


def test_crt_draws_the_largest_class_count_from_every_class_each_epoch():
    """Kang et al.'s class-aware sampling: max-count x classes draws per epoch (60 x 3 here,
    not the 80 real points), each class drawn equally often and each image of a class about
    equally often."""
    _, labels = overlapping_classes()
    labels = torch.from_numpy(labels).long()
    generator = torch.Generator().manual_seed(0)
    for _epoch in range(3):
        batches = list(head_batches("crt", labels, 16, generator))
        drawn = torch.cat(batches)
        assert len(drawn) == 60 * 3
        assert all(len(batch) == 16 for batch in batches[:-1])
        assert torch.bincount(labels[drawn]).tolist() == [60, 60, 60]
        # the rarest class's 5 images, 12 times each; the majority's 60, once each
        assert torch.bincount(drawn, minlength=80)[75:].tolist() == [12] * 5
        assert torch.bincount(drawn, minlength=80)[:60].tolist() == [1] * 60
    # smote-feat and eos draw their (already balanced) set once per epoch
    assert len(torch.cat(list(head_batches("eos", labels, 16, generator)))) == 80


def test_crt_trains_by_sgd_with_momentum_and_a_cosine_decay_to_zero():
    recipe = HeadRecipe.from_config({})
    layer = torch.nn.Linear(2, 3)
    optimizer, schedule = head_optimizer("crt", layer, recipe, steps=50)
    assert isinstance(optimizer, torch.optim.SGD)
    assert optimizer.param_groups[0]["momentum"] == 0.9
    assert optimizer.param_groups[0]["lr"] == recipe.crt_lr == 0.05
    for _ in range(50):
        optimizer.step()
        schedule.step()
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    adam, constant = head_optimizer("eos", layer, recipe, steps=50)
    assert isinstance(adam, torch.optim.Adam) and constant is None

    features, labels = overlapping_classes()
    recipe = HeadRecipe.from_config({"epochs": 10, "batch_size": 16})
    _, history = fit_head(
        "crt",
        torch.from_numpy(features),
        torch.from_numpy(labels).long(),
        3,
        recipe,
        torch.Generator().manual_seed(0),
    )
    rates = [row["lr"] for row in history]
    assert rates[0] == 0.05 and all(b < a for a, b in zip(rates, rates[1:], strict=False))
    # the last epoch starts at (1 + cos(0.9 pi)) / 2 = 2.4 % of the peak and ends at 0
    assert rates[-1] == pytest.approx(0.05 * (1 + np.cos(0.9 * np.pi)) / 2, rel=1e-6)
    assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_class_balanced_sampling_fits_a_head_that_finds_the_rare_class():
    features, labels = overlapping_classes()
    recipe = HeadRecipe.from_config({"epochs": 60, "lr": 0.05, "batch_size": 16})
    f, y = torch.from_numpy(features), torch.from_numpy(labels).long()
    recall = {}
    # smote-feat's draws (each point once) on the imbalanced points, against cRT's
    for head in ("smote-feat", "crt"):
        torch.manual_seed(0)
        layer, history = fit_head(head, f, y, 3, recipe, torch.Generator().manual_seed(0))
        predicted = layer(f).argmax(1)
        recall[head] = (predicted[y == 2] == 2).float().mean().item()
        assert len(history) == 60 and history[-1]["train_loss"] < history[0]["train_loss"]
    assert recall["crt"] > recall["smote-feat"]


def test_penultimate_features_are_the_last_layers_inputs_and_leave_the_model_whole():
    model = build_resnet("resnet18", 1, 3, "small").eval()
    images = torch.rand(5, 1, 8, 8)
    cpu = torch.device("cpu")
    features = penultimate_features(model, images, 2, cpu, Precision(cpu, "fp32"))
    assert features.shape == (5, 512)
    with torch.no_grad():
        assert torch.allclose(model.fc(features), model(images), atol=1e-5)
