"""Reading a user's image files (ImageFolder trees, MVTec AD) into uint8 (C, H, W) arrays.

PIL does the decoding; every mode a user is likely to have (grayscale, RGB, RGBA, palette,
16-bit, 1-bit) becomes 1-channel grey or 3-channel RGB.
"""

from __future__ import annotations

import sys
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


def is_image_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES


def find_images(root) -> list[Path]:
    """Every image file under ``root`` (recursively, by suffix, case-insensitive), sorted.

    Hidden files and folders are left out: macOS's '._x.png' resource forks are not images, and
    '.ipynb_checkpoints/' holds copies."""
    root = Path(root)
    return sorted(
        p
        for p in root.rglob("*")
        if is_image_file(p) and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def _to_mode(image: Image.Image, channels: int) -> Image.Image:
    """Grey ('L') or RGB; transparency is composited onto black, 16-bit scaled to 8 bits."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        pixels = np.asarray(image, dtype=np.float64)
        # 16-bit images hold 0..65535; PIL's own conversion would clip instead of scale
        scale = 255.0 / 65535.0 if image.mode != "F" else 1.0
        image = Image.fromarray((pixels * scale).round().clip(0, 255).astype(np.uint8), "L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        image = Image.alpha_composite(background, rgba)
    return image.convert("L" if channels == 1 else "RGB")


def read_image(path, size: tuple[int, int] | None, channels: int) -> np.ndarray:
    """One image file as uint8 (C, H, W) with C = ``channels`` (1 or 3), resized to ``size``
    = (height, width) when given (bilinear, anti-aliased; the aspect ratio is not kept)."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    try:
        with Image.open(path) as image:
            image.load()
            converted = _to_mode(image, channels)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise BadImageError(path, f"{type(error).__name__}: {error}") from error
    if size is not None:
        height, width = size
        if converted.size != (width, height):
            converted = converted.resize((width, height), Image.Resampling.BILINEAR)
    pixels = np.asarray(converted, dtype=np.uint8)
    return pixels[None] if channels == 1 else np.ascontiguousarray(pixels.transpose(2, 0, 1))


def read_images(files, size: tuple[int, int] | None, channels: int):
    """Decode every file to uint8 (N, C, H, W), with a progress bar: (images of the files that
    could be read, those files, the BadImageError of each other file)."""
    from tqdm import tqdm

    images, read, bad = [], [], []
    for path in tqdm(files, desc="reading images", unit="image", file=sys.stderr):
        try:
            images.append(read_image(path, size, channels))
            read.append(path)
        except BadImageError as error:
            bad.append(error)
    return (np.stack(images) if images else None), read, bad
