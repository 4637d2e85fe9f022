"""Random changes to training batches, the same for every method: translation and horizontal flip
per image, then MixUp / CutMix across the batch (torchvision's transforms). They draw from torch's
global generator, which the seed sets and checkpoints save."""

from __future__ import annotations

import torch

from .choices import check


def augmentation(crop_padding: int, flip: bool, image_size):
    """Per-image random translation (pad by ``crop_padding`` pixels, replicating the border, and
    crop back) and horizontal flip; None when both are off."""
    if not crop_padding and not flip:
        return None
    from torchvision.transforms import v2

    steps = []
    if crop_padding:
        steps.append(v2.RandomCrop(list(image_size), padding=crop_padding, padding_mode="edge"))
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    transform = v2.Compose(steps)

    def augment(batch: torch.Tensor) -> torch.Tensor:
        return torch.stack([transform(image) for image in batch])

    return augment


def batch_mixing(kind: str, alpha: float, n_classes: int):
    """MixUp / CutMix on whole training batches (``mixup_or_cutmix``: one of the two per batch,
    at random): returns ``mix(images, labels) -> (images, soft targets)``, or None for ``none``."""
    check("classifier.augment.mix", kind)
    if kind == "none":
        return None
    from torchvision.transforms import v2

    mixers = {"mixup": v2.MixUp, "cutmix": v2.CutMix}
    names = ["mixup", "cutmix"] if kind == "mixup_or_cutmix" else [kind]
    return v2.RandomChoice([mixers[name](alpha=alpha, num_classes=n_classes) for name in names])
