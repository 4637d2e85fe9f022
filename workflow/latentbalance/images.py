"""Reading image files into uint8 (C, H, W) arrays (PIL).

Provisional minimal version for the predict command; the dataset work replaces it with the full
reader (same names and signatures)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


class BadImageError(ValueError):
    """An image file that cannot be decoded; the message names the file and the reason."""

    def __init__(self, path, reason: str):
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: cannot be read as an image ({reason})")


def find_images(root) -> list[Path]:
    """Every image file under ``root`` (recursively, by suffix, case-insensitive), sorted."""
    return sorted(
        p
        for p in Path(root).rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
    )


def read_image(path, size: tuple[int, int] | None, channels: int) -> np.ndarray:
    """One image file as uint8 (C, H, W), grey (C = 1) or RGB (C = 3), resized to ``size`` =
    (height, width) when given."""
    try:
        with Image.open(path) as image:
            image.load()
            converted = image.convert("L" if channels == 1 else "RGB")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise BadImageError(path, f"{type(error).__name__}: {error}") from error
    if size is not None and converted.size != (size[1], size[0]):
        converted = converted.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    pixels = np.asarray(converted, dtype=np.uint8)
    return pixels[None] if channels == 1 else np.ascontiguousarray(pixels.transpose(2, 0, 1))
