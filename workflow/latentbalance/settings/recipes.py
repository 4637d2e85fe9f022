"""The settings of each kind of job as one frozen object, built from its config block.

A rule passes its block whole (``params``); the script builds the recipe, and the stage and the
training loop read it. The schema fills every default, so ``Recipe.from_config({})`` is the
default recipe, and checks every value once, when the recipe is built: the code that reads a
recipe takes its values as allowed. Kept free of torch."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from .schema import validate, with_defaults


class _FromConfig:
    BLOCK = ""
    RULE_KEYS: tuple[str, ...] = ()  # keys of the block the rule reads, not the job

    @classmethod
    def from_config(cls, block: dict | None = None):
        """The recipe of a config block (missing keys take the schema's defaults), checked
        against the schema once, here: a value it does not allow stops with one ConfigError
        naming the key and what it takes."""
        values = with_defaults(cls.BLOCK, block or {})
        validate(cls.BLOCK, values)
        return cls(**cls._nested({k: v for k, v in values.items() if k not in cls.RULE_KEYS}))

    @classmethod
    def _nested(cls, values: dict) -> dict:
        return values

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class AutoencoderRecipe(_FromConfig):
    BLOCK = "autoencoder"
    latent_dim: int | None
    width: int
    epochs: int
    batch_size: int
    lr: float
    kl_weight: float
    mmd_weight: float
    penalty_kind: str
    penalty_weight: float


@dataclass(frozen=True)
class SamplerRecipe(_FromConfig):
    BLOCK = "sampler"
    k_neighbors: int
    target: int | str
    strict: bool
    synthetic_share: float


@dataclass(frozen=True)
class Augment(_FromConfig):
    BLOCK = "classifier.augment"
    crop_padding: int
    flip: bool
    mix: str
    mix_alpha: float


# classifier keys that are the network's, the same for every method (by_method leaves them)
NETWORK_KEYS = ("stem", "weights", "weights_file")


def classifier_settings(block: dict, method_id: str) -> dict:
    """What a method's classifier job is given of the ``classifier`` block: the block with the
    method's own recipe (``by_method``) laid over it, ``augment`` key by key, and no other
    method's entry, so that naming one method in ``by_method`` reruns no other."""
    settings = dict(block)
    own = settings.pop("by_method", {}).get(method_id, {})
    return settings | own | {"augment": settings["augment"] | own.get("augment", {})}


def latent_size(latent_dim, channels: int) -> int:
    """DeepSMOTE's sizes unless configured: 300 for 1-channel, 600 for 3-channel images."""
    return int(latent_dim) if latent_dim else (300 if channels == 1 else 600)


def budget_epochs(images_seen: int, n_images: float) -> int:
    """The epochs of an equal image budget on a fit set of ``n_images``: rounded, at least one."""
    return max(1, round(images_seen / n_images))


@dataclass(frozen=True)
class ClassifierRecipe(_FromConfig):
    BLOCK = "classifier"
    # the rule passes a method's own recipe laid over the block (classifier_settings)
    RULE_KEYS = ("by_method",)
    stem: str
    weights: str
    weights_file: str | None
    epochs: int
    batch_size: int
    optimizer: str
    schedule: str
    lr: float
    weight_decay: float
    images_seen: int | None
    patience: int
    augment: Augment

    @classmethod
    def _nested(cls, values: dict) -> dict:
        return {**values, "augment": Augment(**values["augment"])}  # checked with its block

    def for_fit_set(self, n_images: int) -> ClassifierRecipe:
        """The recipe on a fit set of ``n_images``: with ``images_seen`` (the equal budget),
        that many draws, ``images_seen / n_images`` epochs rounded (at least one), whatever the
        set's size; else as configured."""
        if not self.images_seen:
            return self
        return replace(self, epochs=budget_epochs(self.images_seen, n_images))


@dataclass(frozen=True)
class EvaluationRecipe(_FromConfig):
    BLOCK = "evaluate"
    test_time_flip: bool
    logit_adjustment: float


@dataclass(frozen=True)
class Compute(_FromConfig):
    """Where a job runs: ``device`` and ``precision`` as configured (``auto`` is resolved by the
    job), whether CUDA is asked for deterministic kernels and allowed TF32, and how often a
    training job saves its checkpoint. Threads are the rule's ``threads``, set before the stage
    starts."""

    BLOCK = "compute"
    RULE_KEYS = ("threads",)
    device: str
    precision: str
    deterministic: bool = True
    tf32: bool = False
    checkpoint_minutes: float = 5.0


@dataclass(frozen=True)
class LossRecipe(_FromConfig):
    BLOCK = "losses"
    la_tau: float
    ldam_max_margin: float
    ldam_scale: float
    drw_beta: float
    drw_from: float
    remix_kappa: float
    remix_tau: float


@dataclass(frozen=True)
class HeadRecipe(_FromConfig):
    BLOCK = "heads"
    epochs: int
    batch_size: int
    lr: float
    crt_lr: float
    weight_decay: float
    eos_neighbors: int
    smote_neighbors: int
