"""Balancing classes with imbalanced-learn samplers, in latent or pixel space.

Each minority class is raised to its target count on its own, so ``k_neighbors`` can be reduced
for that class alone when it is small. Samplers that cannot give the exact count (ADASYN rounds
and may refuse; Borderline-SMOTE finds no borderline samples) are topped up or replaced by SMOTE
for that class, and the metadata and log say so: no class is ever left short. A class with one
sample cannot be interpolated: it is duplicated with a warning, or rejected when ``strict``.

With ``synthetic_share`` below 1, the sampler makes only that share of each class's missing
samples and the rest repeat the class's real samples (``real_repeats``): a minority class then keeps
its real images as prominent as random oversampling does, with synthetic ones beside them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from imblearn.over_sampling import ADASYN, SMOTE, BorderlineSMOTE, RandomOverSampler

from ..settings.recipes import SamplerRecipe
from ..settings.schema import check

log = logging.getLogger(__name__)


def _resampler(sampler: str, strategy: dict, k: int, seed: int):
    if sampler == "smote":
        return SMOTE(sampling_strategy=strategy, k_neighbors=k, random_state=seed)
    if sampler == "adasyn":
        return ADASYN(sampling_strategy=strategy, n_neighbors=k, random_state=seed)
    if sampler == "borderline":
        return BorderlineSMOTE(sampling_strategy=strategy, k_neighbors=k, random_state=seed)
    if sampler == "ros":
        return RandomOverSampler(sampling_strategy=strategy, random_state=seed)
    raise ValueError(f"unknown sampler {sampler!r}")


@dataclass
class _Draw:
    """One balancing in progress: the data, the sampler, its recipe and seed, and the generator
    that trims ADASYN's overshoot (shared by the classes, in class order)."""

    features: np.ndarray
    labels: np.ndarray
    sampler: str
    recipe: SamplerRecipe
    seed: int
    rng: np.random.Generator


def _generate(draw: _Draw, sampler: str, cls: int, target: int, k: int):
    """New samples of ``cls`` from one imbalanced-learn sampler, drawn from the class's own seed,
    and the position in ``draw.features`` of the sample each copies (-1: interpolated)."""
    features = draw.features
    resampler = _resampler(sampler, {cls: target}, k, draw.seed + cls)
    resampled, resampled_labels = resampler.fit_resample(features, draw.labels)
    new = resampled[len(features) :].copy()  # a view would keep every feature alive per class
    assert np.all(resampled_labels[len(features) :] == cls)
    if sampler == "ros":
        copies = np.asarray(resampler.sample_indices_[len(features) :], dtype=np.int64)
    else:
        copies = np.full(len(new), -1, dtype=np.int64)
    return new, copies


def class_targets(counts: np.ndarray, target) -> np.ndarray:
    """Wanted count per class: ``majority`` (the largest class) or a fixed number; never fewer
    than a class already has."""
    wanted = counts.max() if target == "majority" else int(target)
    return np.maximum(counts, wanted)


def synthetic_counts(counts: np.ndarray, target, synthetic_share: float = 1.0) -> np.ndarray:
    """How many samples per class the sampler makes: its share of what the class is missing."""
    missing = class_targets(counts, target) - counts
    return np.rint(missing * synthetic_share).astype(np.int64)


def real_repeats(labels: np.ndarray, target, synthetic_share: float, seed: int) -> np.ndarray:
    """Positions of real samples to repeat, drawn at random within each class (as
    RandomOverSampler does), for the part of each class's missing samples the sampler leaves."""
    counts = np.bincount(labels)
    missing = class_targets(counts, target) - counts
    repeats = missing - synthetic_counts(counts, target, synthetic_share)
    rng = np.random.default_rng(seed)
    picks = [
        rng.choice(np.flatnonzero(labels == cls), n, replace=True)
        for cls, n in enumerate(repeats)
        if n > 0 and counts[cls] > 0  # a class absent from the fold stays absent, as in balance
    ]
    return np.concatenate(picks) if picks else np.empty(0, np.int64)


@dataclass(frozen=True)
class Resampled:
    """What balancing adds to a training set, and where each addition comes from.

    ``features``/``labels``: the synthetic samples, class by class. ``sources``: for each, the
    position in the input of the sample it is an exact copy of (``ros``, a duplicated single
    sample), -1 for an interpolated one: a validation split must keep a copy of a validation
    image out of fitting. ``repeats``: positions of the real samples repeated to make up the part
    the sampler leaves (``synthetic_share`` < 1). ``per_class``: class -> its real, synthetic and
    repeated counts and how the sampler made them (k, fallback, top-up)."""

    features: np.ndarray
    labels: np.ndarray
    sources: np.ndarray
    repeats: np.ndarray
    per_class: dict[int, dict]


def balance(
    features: np.ndarray, labels: np.ndarray, sampler: str, recipe: SamplerRecipe, seed: int
) -> Resampled:
    """Synthetic samples that bring every class up to ``recipe.target``, or
    ``recipe.synthetic_share`` of the way there (rounded), with the real repeats that make up the
    rest. ``features`` is 2-D; ``sampler`` is the method's (smote, adasyn, borderline, ros)."""
    check("methods.grid.samplers", sampler)
    counts = np.bincount(labels)
    _check_neighbours(sampler, recipe.k_neighbors, counts)
    targets = counts + synthetic_counts(counts, recipe.target, recipe.synthetic_share)
    draw = _Draw(features, labels, sampler, recipe, seed, np.random.default_rng(seed))
    made = np.where(counts > 0, targets - counts, 0)  # a class absent from the fold stays absent
    # filled class by class: the new rows are held once, not as a list and its concatenation
    new = np.empty((made.sum(), features.shape[1]), features.dtype)
    new_labels = np.repeat(np.arange(len(counts)), made)
    sources, per_class, start = np.empty(len(new), np.int64), {}, 0
    for cls, (n_real, wanted) in enumerate(zip(counts, targets, strict=True)):
        entry = {"real": int(n_real), "synthetic": int(wanted - n_real), "how": sampler}
        per_class[cls] = entry
        if not made[cls]:
            entry["how"] = "none"
            continue
        samples, copies = _class_samples(draw, cls, int(wanted), entry)
        assert len(samples) == made[cls], f"class {cls}: {len(samples)} of {made[cls]} samples"
        new[start : start + made[cls]], sources[start : start + made[cls]] = samples, copies
        start += made[cls]
    repeats = real_repeats(labels, recipe.target, recipe.synthetic_share, seed)
    repeated = np.bincount(labels[repeats], minlength=len(per_class))
    for cls, entry in per_class.items():
        entry["repeated"] = int(repeated[cls])
    return Resampled(new, new_labels, sources, repeats, per_class)


def _check_neighbours(sampler: str, k_neighbors: int, counts: np.ndarray) -> None:
    """k is lowered for classes smaller than k; a k that no class can reach is a typo."""
    if sampler != "ros" and k_neighbors >= counts.max():
        raise ValueError(
            f"'sampler.k_neighbors' is {k_neighbors}, but the largest class has only "
            f"{counts.max()} training images; set 'sampler.k_neighbors' below {counts.max()} "
            "(SMOTE's default is 5)"
        )


def _class_samples(draw: _Draw, cls: int, wanted: int, entry: dict):
    """The new samples of ``cls`` (``wanted`` in all, real ones included) and the position each
    copies (-1: interpolated); records in ``entry`` how they were made."""
    n_real, need, sampler = entry["real"], entry["synthetic"], draw.sampler
    if n_real == 1 and sampler != "ros":
        if draw.recipe.strict:
            raise ValueError(
                f"class {cls} has a single training image, too few for {sampler}; add images "
                "or set 'sampler.strict: false' to duplicate it"
            )
        log.warning("class %s has a single training sample: duplicating it %d times", cls, need)
        entry["how"] = "duplicate"
        return _generate(draw, "ros", cls, wanted, 0)
    k = min(draw.recipe.k_neighbors, n_real - 1)
    if sampler != "ros":
        entry["k_neighbors"] = k
    try:
        new, copies = _generate(draw, sampler, cls, wanted, k)
    except (RuntimeError, ValueError) as error:
        log.warning("class %s: %s refused (%s); using SMOTE instead", cls, sampler, error)
        new, copies = draw.features[:0], np.empty(0, np.int64)
        entry["fallback"] = f"{sampler} refused: {error}"
    if len(new) > need:  # ADASYN rounds per sample and can overshoot
        kept = np.sort(draw.rng.choice(len(new), need, replace=False))
        new, copies = new[kept], copies[kept]
    if len(new) < need:
        top_up, top_up_copies = _generate(draw, "smote", cls, n_real + need - len(new), k)
        if "fallback" not in entry:
            log.warning(
                "class %s: %s made %d of %d samples; SMOTE made the other %d",
                cls,
                sampler,
                len(new),
                need,
                len(top_up),
            )
        entry["smote_top_up"] = len(top_up)
        new = np.concatenate([new, top_up])
        copies = np.concatenate([copies, top_up_copies])
    return new, copies
