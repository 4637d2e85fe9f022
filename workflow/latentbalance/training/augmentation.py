"""Random changes to training batches, the same for every method: translation and horizontal flip
per image, then MixUp / CutMix across the batch (torchvision's transforms). They draw from torch's
generators, which the seed sets and checkpoints save: the global one on a CPU, the device's own
for batches on a GPU."""

from __future__ import annotations

import torch


def augmentation(crop_padding: int, flip: bool, image_size, *, batched: bool | None = None):
    """Per-image random translation (pad by ``crop_padding`` pixels, replicating the border, and
    crop back) and horizontal flip; None when both are off.

    ``batched`` picks how: True transforms the whole batch at once on its own device
    (``shift_and_flip``), False image by image with torchvision on the CPU; None (the default)
    picks by the batch's device: per image on a CPU, batched elsewhere. A CPU keeps the per-image
    path although both draw from the same distributions: the two consume random numbers
    differently, and the recorded CPU figures (benchmarks/RESULTS.md) reproduce bit for bit only
    with the draws they were made with. On a GPU, one image at a time would leave it idle."""
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
        on_device = batch.device.type != "cpu" if batched is None else batched
        if on_device:
            return shift_and_flip(batch, crop_padding, flip)
        return torch.stack([transform(image) for image in batch])

    return augment


def shift_and_flip(batch: torch.Tensor, padding: int, flip: bool) -> torch.Tensor:
    """Each image of ``batch`` (N, C, H, W) shifted by its own random offset in
    [-``padding``, ``padding``] along each axis, the border replicated into the gap (what cropping
    an edge-padded image gives), then mirrored left-right with probability 1/2 when ``flip``.
    One gather per axis on the batch's device and in its dtype; the draws come from that
    device's generator."""
    n, _, height, width = batch.shape
    device = batch.device

    def positions(size: int, mirrored: torch.Tensor | None) -> torch.Tensor:
        # output pixel i reads input pixel clamp(i + shift): edge padding, then the crop
        shift = torch.randint(-padding, padding + 1, (n, 1), device=device)
        pixels = torch.arange(size, device=device).expand(n, size)
        if mirrored is not None:
            pixels = torch.where(mirrored[:, None], size - 1 - pixels, pixels)
        return (pixels + shift).clamp(0, size - 1)

    rows = positions(height, None)
    mirrored = torch.rand(n, device=device) < 0.5 if flip else None
    cols = positions(width, mirrored)
    shape = batch.shape
    batch = batch.gather(2, rows[:, None, :, None].expand(shape))
    return batch.gather(3, cols[:, None, None, :].expand(shape))


def batch_mixing(kind: str, alpha: float, n_classes: int):
    """MixUp / CutMix on whole training batches (``mixup_or_cutmix``: one of the two per batch,
    at random): returns ``mix(images, labels) -> (images, soft targets)``, or None for ``none``."""
    if kind == "none":
        return None
    from torchvision.transforms import v2

    mixers = {"mixup": v2.MixUp, "cutmix": v2.CutMix}
    names = ["mixup", "cutmix"] if kind == "mixup_or_cutmix" else [kind]
    return v2.RandomChoice([mixers[name](alpha=alpha, num_classes=n_classes) for name in names])


def remix(alpha: float, counts, kappa: float, tau: float, n_classes: int):
    """Remix (Chou et al., ECCV-W 2020): MixUp's images (share λ ~ Beta(α, α) of each image,
    1 - λ of its neighbour in the batch, as torchvision's MixUp pairs them), but the label of a
    pair whose classes' fit counts differ by a factor of at least ``kappa`` goes wholly to the
    minority image when the majority image's share of the mix is below ``tau``; other pairs
    blend their labels by λ. ``counts``: the fit set's images per class. Returns
    ``mix(images, labels) -> (images, soft targets)``."""
    counts = torch.as_tensor(counts, dtype=torch.float32)
    share = torch.distributions.Beta(torch.tensor([float(alpha)]), torch.tensor([float(alpha)]))

    def mix(images: torch.Tensor, labels: torch.Tensor):
        lam = float(share.sample())
        partners = labels.roll(1, 0)
        mixed = images.mul(lam).add_(images.roll(1, 0), alpha=1 - lam)
        return mixed, remix_targets(lam, labels, partners, counts, kappa, tau, n_classes)

    return mix


def remix_targets(lam: float, labels, partners, counts, kappa: float, tau: float, n_classes: int):
    """Remix's soft targets for images mixed as ``lam`` · image + (1 - ``lam``) · partner: the
    label share of each image is 0 when its class has ≥ ``kappa`` times its partner's count
    and ``lam`` < ``tau`` (the partner, a minority image, takes the label), 1 in the mirror
    case, else ``lam``."""
    ratio = counts.to(labels.device)[labels] / counts.to(labels.device)[partners]
    label_share = torch.full(labels.shape, lam, device=labels.device)
    label_share[(ratio >= kappa) & (lam < tau)] = 0.0
    label_share[(ratio <= 1 / kappa) & (1 - lam < tau)] = 1.0
    one_hot = torch.nn.functional.one_hot
    own, other = one_hot(labels, n_classes).float(), one_hot(partners, n_classes).float()
    return label_share[:, None] * own + (1 - label_share[:, None]) * other


def method_mixing(loss, kind: str, alpha: float, n_classes: int):
    """The batch mixing of a classifier's training: the method's own (``loss.mixing``:
    ``mixup-drw``'s MixUp, ``remix-drw``'s Remix on the fit counts), else ``kind``
    (classifier.augment.mix), the same for every other method."""
    if loss.mixing == "remix":
        kappa, tau = loss.remix
        return remix(alpha, loss.counts, kappa, tau, n_classes)
    return batch_mixing(loss.mixing or kind, alpha, n_classes)
