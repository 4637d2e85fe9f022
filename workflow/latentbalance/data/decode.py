"""Reading a user's image files (ImageFolder trees, MVTec AD, the files ``predict`` classifies)
into uint8 (N, C, H, W) arrays.

PIL does the decoding; every mode a user is likely to have (grayscale, RGB, RGBA, palette,
16-bit, 1-bit) becomes 1-channel grey or 3-channel RGB.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class ImageReading:
    """How image files become one array: ``size`` = (height, width) to resize to (one number: a
    square; None: the images must already share one size), ``channels`` 1 or 3 (None: 1 if no
    image has colour, else 3), and whether unreadable files are skipped and reported rather than
    stopping the reading at the first."""

    size: tuple[int, int] | None = None
    channels: int | None = None
    skip_bad_images: bool = False

    def __post_init__(self):
        size = (self.size, self.size) if isinstance(self.size, int) else self.size
        object.__setattr__(self, "size", tuple(size) if size is not None else None)


@dataclass
class DecodedImages:
    """Image files decoded: the pixels of those that could be read, uint8 (N, C, H, W) (N = 0 when
    none could), their positions in the list of files, and the BadImageError of each other file."""

    images: np.ndarray
    kept: np.ndarray
    unreadable: list[BadImageError]


def read_images(paths: list[Path], reading: ImageReading) -> DecodedImages:
    """Decode every file as ``reading`` says, with a progress bar; an unreadable file raises its
    BadImageError unless ``reading.skip_bad_images``."""
    size, channels = reading.size, reading.channels
    arrays, kept, unreadable = [], [], []
    for position, path in enumerate(tqdm(paths, desc="reading images", unit="image")):
        try:
            arrays.append(read_image(path, size, channels or 3))
        except BadImageError as error:
            if not reading.skip_bad_images:
                raise
            unreadable.append(error)
            continue
        kept.append(position)
    kept = np.array(kept, dtype=np.int64)
    if not arrays:
        height, width = size or (0, 0)
        return DecodedImages(
            np.zeros((0, channels or 3, height, width), np.uint8), kept, unreadable
        )
    refuse_mixed_sizes([paths[i] for i in kept], arrays)
    images = np.stack(arrays)
    if channels is None:
        images = grey_if_colourless(images)
    return DecodedImages(images, kept, unreadable)


def refuse_mixed_sizes(paths: list[Path], arrays: list[np.ndarray]) -> None:
    """Images of different sizes cannot share an array: name a few, and the key that resizes."""
    sizes = {}
    for path, array in zip(paths, arrays, strict=True):
        sizes.setdefault(array.shape[1:], path)
    if len(sizes) > 1:
        examples = "; ".join(f"{p} is {h}x{w}" for (h, w), p in list(sizes.items())[:3])
        raise ValueError(
            f"the images differ in size ({examples}). Set 'image_size: [height, width]' "
            "(or one number for square images) for this dataset so that every image is resized."
        )


def grey_if_colourless(images: np.ndarray) -> np.ndarray:
    """RGB images (N, 3, H, W) as one channel when every image is grey, else unchanged."""
    grey = bool((images[:, 0] == images[:, 1]).all() and (images[:, 1] == images[:, 2]).all())
    log.info("channels not set: every image is %s", "grey, using 1" if grey else "colour, using 3")
    return np.ascontiguousarray(images[:, :1]) if grey else images
