"""Images as tensors, and the batches every loop slices from tensors already in memory (no
per-item Dataset on the hot path)."""

from __future__ import annotations

import numpy as np
import torch

# recorded in every classifier spec, so that a job loading the classifier
# (``model_files.load_classifier``) can check it feeds images the same way
INPUT_SCALING = "uint8 / 127.5 - 1"


def to_unit_range(images: np.ndarray) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> float32 tensor in [-1, 1] (the decoder's Tanh range)."""
    return torch.from_numpy(np.ascontiguousarray(images)).float().div_(127.5).sub_(1.0)


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


@torch.no_grad()
def run_in_batches(fn, inputs: torch.Tensor, batch_size: int, device, precision):
    """``fn`` applied to ``inputs`` batch by batch on ``device`` (outputs back on the CPU)."""
    outputs = []
    for index in batches(len(inputs), batch_size, None):
        batch = precision.prepare(inputs[index].to(device))
        with precision.autocast():
            outputs.append(fn(batch).float().cpu())
    return torch.cat(outputs)
