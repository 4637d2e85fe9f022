"""Two-stage methods: a finished classifier's backbone is frozen and only a new last linear layer
is trained, on the penultimate-layer features of the fold's real training images.

- ``crt``: classifier re-training (Kang et al., ICLR 2020): a new layer trained with
  class-aware sampling (every class drawn as often as the largest class has images, so
  max-count × classes draws per epoch) by SGD with momentum 0.9 and a cosine decay of the
  learning rate to 0, as the authors' configs do (their departures from ours: config/README.md).
- ``smote-feat``: imbalanced-learn's SMOTE on the features, every class up to the majority.
- ``eos``: EOS (Dablain, Bellinger, Krawczyk, Chawla, arXiv 2207.06080): new points between a
  minority feature vector with an enemy (a point of another class among its k nearest
  neighbours, all classes together) and a random one of its enemies, labelled as the minority
  point, until every class reaches the majority count.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..settings.recipes import HeadRecipe, SamplerRecipe
from ..training.checkpoint import TrainingState
from ..training.loop import LoopSettings, run_epochs
from ..training.runtime import seed_everything, stage_seed
from ..training.tensors import batches, run_in_batches
from .methods import Method
from .sampling import balance

# SGD's momentum in every cRT config of Kang et al. (ImageNet-LT, Places-LT, iNaturalist)
CRT_MOMENTUM = 0.9


def penultimate_features(model, images: torch.Tensor, batch_size: int, device, precision):
    """The frozen backbone's features (the last layer's inputs) of ``images``, as float32 on the
    CPU."""
    last_layer, model.fc = model.fc, nn.Identity()
    try:
        return run_in_batches(model.to(device), images, batch_size, device, precision).float()
    finally:
        model.fc = last_layer


def eos_samples(
    features: np.ndarray, labels: np.ndarray, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """EOS's new feature vectors and their labels: every class brought to the majority count.

    A base is a point of a minority class with an enemy among its ``k`` nearest neighbours. Each
    new point is ``x + u (e - x)``, ``x`` a base drawn at random, ``e`` one of its enemies drawn at
    random, ``u ~ U(0, 1)``. A class none of whose points has an enemy that near (it lies apart
    from the others) uses each of its points' nearest enemy instead, so that no class is left
    short."""
    from sklearn.neighbors import NearestNeighbors

    counts = np.bincount(labels)
    k = min(k, len(labels) - 1)
    # kneighbors() without points leaves each point out of its own neighbours
    neighbours = NearestNeighbors(n_neighbors=k).fit(features).kneighbors()[1]
    new_features, new_labels = [], []
    for cls in np.flatnonzero((counts > 0) & (counts < counts.max())):
        members = np.flatnonzero(labels == cls)
        enemies = neighbours[members]
        is_enemy = labels[enemies] != cls
        has_enemy = is_enemy.any(axis=1)
        if has_enemy.any():
            bases, enemies, is_enemy = members[has_enemy], enemies[has_enemy], is_enemy[has_enemy]
        else:
            others = np.flatnonzero(labels != cls)
            nearest = NearestNeighbors(n_neighbors=1).fit(features[others])
            bases = members
            enemies = others[nearest.kneighbors(features[members])[1]]
            is_enemy = np.ones_like(enemies, dtype=bool)
        need = counts.max() - counts[cls]
        drawn = rng.integers(len(bases), size=need)
        # a random enemy of each drawn base: the enemy column with the largest random key
        keys = np.where(is_enemy[drawn], rng.random((need, is_enemy.shape[1])), -1.0)
        enemy = enemies[drawn, keys.argmax(axis=1)]
        base = features[bases[drawn]]
        u = rng.random((need, 1))
        new_features.append(base + u * (features[enemy] - base))
        new_labels.append(np.full(need, cls, dtype=labels.dtype))
    if not new_features:
        return features[:0], labels[:0]
    return np.concatenate(new_features).astype(features.dtype), np.concatenate(new_labels)


def head_training_set(head: str, features: np.ndarray, labels: np.ndarray, recipe, seed: int):
    """The features and labels the new layer trains on: the real ones plus EOS's or SMOTE's new
    ones, or the real ones alone for ``crt`` (its balance comes from how it draws them,
    ``class_balanced_draws``)."""
    if head == "crt":
        return features, labels
    if head == "eos":
        extra, extra_labels = eos_samples(
            features, labels, recipe.eos_neighbors, np.random.default_rng(seed)
        )
    else:  # smote-feat
        largest = np.bincount(labels).max()
        if recipe.smote_neighbors >= largest:
            raise ValueError(
                f"'heads.smote_neighbors' is {recipe.smote_neighbors}, but the largest class has "
                f"only {largest} training images; set 'heads.smote_neighbors' below {largest}"
            )
        every_class_to_the_majority = SamplerRecipe(
            k_neighbors=recipe.smote_neighbors, target="majority", strict=False, synthetic_share=1.0
        )
        added = balance(features, labels, "smote", every_class_to_the_majority, seed)
        extra, extra_labels = added.features, added.labels
    features = np.concatenate([features, extra.astype(features.dtype)])
    labels = np.concatenate([labels, extra_labels.astype(labels.dtype)])
    return features, labels


def class_balanced_draws(labels: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One epoch of cRT's class-aware sampling: the positions of as many draws from every class
    present as the largest class has images (max-count × classes in all), in shuffled order.
    A class's images are drawn in passes over a fresh shuffle of them, so that each recurs
    max-count / n_c times, give or take one, rather than as a multinomial would scatter them."""
    draws = []
    members_of = [torch.nonzero(labels == c).flatten() for c in torch.unique(labels)]
    largest = max(len(members) for members in members_of)
    for members in members_of:
        passes = -(-largest // len(members))
        shuffles = [torch.randperm(len(members), generator=generator) for _ in range(passes)]
        draws.append(members[torch.cat(shuffles)[:largest]])
    draws = torch.cat(draws)
    return draws[torch.randperm(len(draws), generator=generator)]


def draws_per_epoch(head: str, labels: torch.Tensor) -> int:
    """How many samples one epoch of ``head_batches`` draws."""
    if head == "crt":
        counts = torch.bincount(labels)
        return int(counts.max()) * int((counts > 0).sum())
    return len(labels)


def head_batches(head: str, labels: torch.Tensor, batch_size: int, generator: torch.Generator):
    """One epoch of a head's batches of ``batch_size`` (the last one as it falls, however small):
    ``crt``'s class-balanced draws, or every sample once (``smote-feat`` and ``eos``, whose
    sets are balanced already) in the shared shuffle."""
    if head == "crt":
        return class_balanced_draws(labels, generator).split(batch_size)
    return batches(len(labels), batch_size, generator)


def head_optimizer(head: str, layer: nn.Module, recipe: HeadRecipe, steps: int):
    """The new layer's optimizer and its per-step schedule (None: a constant rate): for ``crt``,
    SGD (momentum 0.9) from ``heads.crt_lr`` down a cosine to 0 at the last of ``steps``, as
    Kang et al. train it; for the others, Adam at ``heads.lr``."""
    if head != "crt":
        optimizer = torch.optim.Adam(
            layer.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay
        )
        return optimizer, None
    optimizer = torch.optim.SGD(
        layer.parameters(),
        lr=recipe.crt_lr,
        momentum=CRT_MOMENTUM,
        weight_decay=recipe.weight_decay,
    )
    return optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps, eta_min=0.0)


def fit_head(
    head: str,
    features: torch.Tensor,
    labels: torch.Tensor,
    n_classes: int,
    recipe: HeadRecipe,
    generator: torch.Generator,
    desc: str = "head",
):
    """A new linear layer trained on fixed features for ``recipe.epochs`` (``training.loop``'s
    epoch loop; nothing is held out, so the last epoch's layer is kept), with ``head``'s batches
    (``head_batches``) and optimizer (``head_optimizer``).
    Returns the layer and the history (one row per epoch, with the rate the epoch started at)."""
    layer = nn.Linear(features.shape[1], n_classes)
    epoch_batches = partial(head_batches, head, labels, recipe.batch_size)
    steps_per_epoch = -(-draws_per_epoch(head, labels) // recipe.batch_size)
    optimizer, scheduler = head_optimizer(head, layer, recipe, recipe.epochs * steps_per_epoch)

    def step(batch, _epoch):
        logits = layer(features[batch])
        loss = F.cross_entropy(logits, labels[batch])
        correct = (logits.argmax(1) == labels[batch]).sum()
        return loss, {"train_loss": loss.detach().double() * len(batch), "train_accuracy": correct}

    # a disabled gradient scaler: the optimizer steps as it is
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    state = TrainingState(layer, optimizer, generator, scaler, scheduler, scheduler is not None)
    settings = LoopSettings(recipe.epochs, epoch_batches, record_lr=True, desc=desc)
    return run_epochs(state, step, None, settings)


def train_head_layer(
    head: str,
    features: np.ndarray,
    labels: np.ndarray,
    n_classes: int,
    recipe: HeadRecipe,
    seed: int,
    fold: int,
    method_id: str,
    desc: str = "head",
):
    """``head``'s new last layer on a backbone's features of the fold's training images, with the
    seeds of the ``train_head`` job of ``method_id`` (so that a grid over settings reproduces the
    workflow's heads). Returns the layer, its history and the labels it was fitted on."""
    features, labels = head_training_set(
        head, features, labels, recipe, stage_seed(seed, fold, method_id)
    )
    generator = seed_everything(stage_seed(seed, fold, "head", method_id))
    layer, history = fit_head(
        head,
        torch.from_numpy(features),
        torch.from_numpy(labels).long(),
        n_classes,
        recipe,
        generator,
        desc=desc,
    )
    return layer, history, labels


def head_spec(backbone: dict, method: Method, recipe: HeadRecipe, fit_labels: np.ndarray) -> dict:
    """The model file's spec of a backbone with a new head: the backbone's, with a linear last
    layer and what that layer was fitted under (``fit_labels``)."""
    counts = np.bincount(fit_labels, minlength=backbone["n_classes"])
    spec = backbone | {
        "method": method.id,
        "backbone": backbone["method"],
        "head": method.head,
        "head_recipe": recipe.as_dict(),
        "last_layer": "linear",
        # every class equally often
        "fit_counts": [int(counts.max())] * backbone["n_classes"],
        "class_weighted": False,
        "prior_corrected": False,
    }
    spec.pop("cosine_scale", None)
    return spec
