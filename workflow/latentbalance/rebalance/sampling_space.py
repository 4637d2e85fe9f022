"""Where an oversampler samples, and the way back to images: the autoencoder's codes (latent
methods), each image's position (``ros``), or the flattened images (pixel interpolation); the
synthetic images decoded and written a chunk at a time."""

from __future__ import annotations

import numpy as np
import torch

from ..data.image_dataset import ImageRows, write_npy
from ..nets.model_files import load_autoencoder
from ..settings.recipes import Compute
from ..training.runtime import resolve
from ..training.tensors import run_in_batches, to_uint8

# decoded floats held at once while the synthetic set is written (at 128 px RGB, ~340 images)
DECODE_CHUNK_BYTES = 64 * 2**20


def write_synthetic(path, features, to_images, image_shape, batch_size: int) -> None:
    """The synthetic images of ``features``, decoded and written a chunk at a time: up to 2,048
    images and 64 MB of decoded floats, in whole batches (the batches are those of one call)."""
    per_batch = batch_size * 4 * int(np.prod(image_shape))
    step = batch_size * max(1, min(2048 // batch_size, DECODE_CHUNK_BYTES // per_batch))
    chunks = (to_images(features[i : i + step]) for i in range(0, len(features), step))
    write_npy(path, (len(features), *image_shape), chunks)


def sampling_space(method, rows: ImageRows, autoencoder_path, batch_size: int, compute: Compute):
    """Where ``method`` samples, and the function that turns new features into images: the
    autoencoder's codes of ``rows`` (latent methods: encoded batch by batch from the cache), each
    image's position (``ros``: it copies, so the copies are read back from the cache), or the
    flattened images (pixel interpolation: held by nature)."""
    if not method.autoencoder:
        if method.sampler == "ros":

            def to_images(features):
                return rows.take(features[:, 0].astype(np.int64))

            return np.arange(len(rows), dtype=np.float64)[:, None], to_images

        def to_images(features):
            return features.round().clip(0, 255).astype(np.uint8).reshape(-1, *rows.shape[1:])

        return rows.take(np.arange(len(rows))).reshape(len(rows), -1).astype(np.float32), to_images
    device, precision = resolve(compute)
    model = precision.prepare(load_autoencoder(autoencoder_path).to(device))
    codes = run_in_batches(model.encode, rows, batch_size, device, precision)

    def to_images(features):
        decoded = run_in_batches(
            model.decode, torch.from_numpy(features), batch_size, device, precision
        )
        return to_uint8(decoded)

    return codes.numpy(), to_images
