"""Images as tensors, and the batches every loop slices from tensors in memory or from
``ImageRows`` of the memory-mapped cache, read a batch at a time and made float only then (no
per-item Dataset on the hot path)."""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..data.image_dataset import ImageRows

log = logging.getLogger(__name__)

# A fit's training set is kept on the card when it takes at most this share of the card's free
# memory (FashionMNIST-LT's fold, ~9,000 28x28 images in fp32, takes under 30 MB); the rest stays
# for the model, its activations and the allocator's cache.
RESIDENT_SHARE = 0.25

# recorded in every classifier spec, so that a job loading the classifier
# (``model_files.load_classifier``) can check it feeds images the same way
INPUT_SCALING = "uint8 / 127.5 - 1"


def to_unit_range(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> float32 tensor in [-1, 1] (the decoder's Tanh range), on
    the tensor's device."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))
    return images.float().div_(127.5).sub_(1.0)


def batch_on(source, index: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Rows ``index`` of a tensor, or of ``ImageRows`` read now, copied as uint8 and made float
    on ``device``."""
    if isinstance(source, ImageRows):
        return to_unit_range(torch.from_numpy(source.take(index.numpy())).to(device))
    return source[index].to(device)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    return ((images.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()


def batches(n: int, batch_size: int, generator: torch.Generator | None):
    """Positions of ``n`` items in batches, shuffled by ``generator`` (in order without one)."""
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def training_batches(n: int, batch_size: int, generator: torch.Generator | None):
    """``batches`` without a last batch of one item: BatchNorm cannot train on a single image."""
    return (index for index in batches(n, batch_size, generator) if len(index) > 1)


def resident_on_device(n_bytes: int, device: torch.device, free_bytes: int | None = None) -> bool:
    """Whether a fit's training set of ``n_bytes`` is copied onto ``device`` once, instead of
    batch by batch: on a CUDA card, where it takes at most ``RESIDENT_SHARE`` of the free memory
    (``free_bytes``; the card's own when None). Never on the CPU, where it already is."""
    if device.type != "cuda":
        return False
    if free_bytes is None:
        free_bytes, _ = torch.cuda.mem_get_info(device)
    return n_bytes <= RESIDENT_SHARE * free_bytes


def on_device(rows: ImageRows, device: torch.device) -> torch.Tensor:
    """All of ``rows`` as one uint8 tensor on ``device``, copied a chunk at a time."""
    tensor, start = torch.empty(rows.shape, dtype=torch.uint8, device=device), 0
    for chunk in rows.chunks():
        tensor[start : start + len(chunk)] = torch.from_numpy(chunk).to(device)
        start += len(chunk)
    return tensor


class DeviceRows:
    """Rows of a training tensor or of ``ImageRows``, delivered on ``device`` a batch at a time
    without a wait for the device: from a copy kept there (``resident``; images as uint8), else
    gathered on the host into pinned memory and copied asynchronously (a copy from pageable
    memory would wait for every queued kernel). On the CPU, the tensor's own rows; on another
    device, a plain copy. Images (``ImageRows``) travel as uint8 and become float there."""

    def __init__(self, tensor, device: torch.device, resident: bool):
        self.device, self.resident = device, resident
        self.images = isinstance(tensor, ImageRows)
        if resident:
            tensor = on_device(tensor, device) if self.images else tensor.to(device)
        self.tensor = tensor

    def __getitem__(self, index: torch.Tensor) -> torch.Tensor:
        if self.resident:
            # the positions go to the card without a wait too
            rows = self.tensor[index.pin_memory().to(self.device, non_blocking=True)]
            return to_unit_range(rows) if self.images else rows
        if self.images:
            rows = torch.from_numpy(self.tensor.take(index.numpy()))
            if self.device.type == "cuda":
                rows = rows.pin_memory().to(self.device, non_blocking=True)
            return to_unit_range(rows.to(self.device))
        if self.device.type == "cuda":
            # the host allocator keeps a pinned block until its copy is done
            return self.tensor[index].pin_memory().to(self.device, non_blocking=True)
        # on the CPU .to() returns the rows themselves; another device (mps, xpu) takes a copy
        return self.tensor[index].to(self.device)


def device_rows(device: torch.device, *tensors) -> list[DeviceRows]:
    """A fit's training tensors as ``DeviceRows`` on ``device``: all kept on the card or none,
    as ``resident_on_device`` decides for their total size."""
    n_bytes = sum(tensor.nbytes for tensor in tensors)
    resident = resident_on_device(n_bytes, device)
    if device.type == "cuda":
        where = "kept on the card" if resident else "copied per batch through pinned memory"
        log.info("training set (%.0f MB) %s", n_bytes / 2**20, where)
    return [DeviceRows(tensor, device, resident) for tensor in tensors]


@torch.no_grad()
def run_in_batches(fn, inputs, batch_size: int, device, precision):
    """``fn`` applied to ``inputs`` (a tensor or ``ImageRows``) batch by batch on ``device``
    (outputs back on the CPU)."""
    outputs = []
    for index in batches(len(inputs), batch_size, None):
        batch = precision.prepare(batch_on(inputs, index, device))
        with precision.autocast():
            outputs.append(fn(batch).float().cpu())
    return torch.cat(outputs)


@torch.no_grad()
def reconstruction_mse(model, inputs, batch_size: int, device, precision) -> float:
    """Mean squared error of ``model``'s reconstruction of ``inputs`` (a tensor or
    ``ImageRows``), summed batch by batch on ``device``: no copy of the whole set is made."""
    total, count = torch.zeros((), dtype=torch.float64, device=device), 0
    for index in batches(len(inputs), batch_size, None):
        batch = batch_on(inputs, index, device)
        with precision.autocast():
            recon = model(precision.prepare(batch)).float()
        total += (recon - batch).square().sum(dtype=torch.float64)
        count += batch.numel()
    return (total / count).item()
