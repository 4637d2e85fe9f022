"""Method ids and what they mean.

``<sampler>-<autoencoder>`` oversamples in the latent space of that autoencoder (e.g. ``smote-ae``);
``<sampler>-pixel`` oversamples flattened pixels; ``ros`` duplicates real images; ``none`` trains on
the imbalanced set as is; ``weighted`` trains on it with a class-weighted loss.
"""

from __future__ import annotations

from dataclasses import dataclass

from .autoencoders import AUTOENCODERS

SAMPLERS = ("smote",)
BASELINES = ("none", "weighted", "ros")


@dataclass(frozen=True)
class Method:
    id: str
    sampler: str | None = None  # imbalanced-learn sampler, None when nothing is generated
    autoencoder: str | None = None  # latent space to sample in; None for pixel space

    @property
    def generates(self) -> bool:
        return self.sampler is not None

    @property
    def class_weighted(self) -> bool:
        return self.id == "weighted"

    @property
    def autoencoder_dir(self) -> str | None:
        """Folder name of the autoencoder this method uses (shared by every sampler)."""
        return f"{self.autoencoder}-nopenalty" if self.autoencoder else None


def valid_method_ids() -> list[str]:
    ids = list(BASELINES)
    for sampler in SAMPLERS:
        ids.append(f"{sampler}-pixel")
        ids += [f"{sampler}-{ae}" for ae in AUTOENCODERS]
    return ids


def parse_method(method_id: str) -> Method:
    if method_id in ("none", "weighted"):
        return Method(method_id)
    if method_id == "ros":
        return Method(method_id, sampler="ros")
    sampler, _, space = method_id.partition("-")
    if sampler in SAMPLERS and space == "pixel":
        return Method(method_id, sampler=sampler)
    if sampler in SAMPLERS and space in AUTOENCODERS:
        return Method(method_id, sampler=sampler, autoencoder=space)
    raise ValueError(
        f"unknown method {method_id!r} in 'methods'; valid ids: {', '.join(valid_method_ids())}"
    )
