"""Image trees written the way users and MVTec lay them out, with synthetic pictures.

Good parts are a bright disc (a bottle seen from above); defective ones carry a dark crack or
blotch, so a classifier has something real to learn.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

CIFAR_NAMES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]  # fmt: skip


def part_picture(rng: np.random.Generator, size: int, defect: str | None) -> Image.Image:
    """An RGB picture of a part; ``defect`` None, 'crack' or 'blotch'."""
    noise = rng.integers(0, 40, (size, size, 3), dtype=np.uint8)
    image = Image.fromarray(noise, "RGB")
    draw = ImageDraw.Draw(image)
    margin = size // 8 + int(rng.integers(0, max(1, size // 16)))
    draw.ellipse([margin, margin, size - margin, size - margin], fill=(200, 170, 90))
    if defect == "crack":
        start = rng.integers(size // 3, size // 2, 2)
        end = start + rng.integers(size // 6, size // 3, 2)
        draw.line([tuple(start), tuple(end)], fill=(20, 10, 10), width=max(2, size // 12))
    elif defect == "blotch":
        centre = rng.integers(size // 3, 2 * size // 3, 2)
        radius = max(2, size // 8)
        box = [*(centre - radius), *(centre + radius)]
        draw.ellipse([int(v) for v in box], fill=(60, 90, 30))
    return image


def write_mvtec_tree(
    root: Path,
    category: str = "bottle",
    train_good: int = 30,
    test_good: int = 6,
    defects: dict[str, int] | None = None,
    size: int = 40,
    seed: int = 0,
) -> Path:
    """MVTec AD's official layout: <category>/train/good, test/good, test/<defect type>,
    ground_truth/<defect type>/*_mask.png (which the loader must not read as images)."""
    defects = defects if defects is not None else {"broken_large": 4, "contamination": 4}
    rng = np.random.default_rng(seed)
    base = root / category
    folders = {
        base / "train" / "good": (train_good, None),
        base / "test" / "good": (test_good, None),
    }
    for k, (name, count) in enumerate(defects.items()):
        folders[base / "test" / name] = (count, ("crack", "blotch")[k % 2])
    for folder, (count, defect) in folders.items():
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            part_picture(rng, size, defect).save(folder / f"{i:03d}.png")
    for name, count in defects.items():
        masks = base / "ground_truth" / name
        masks.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            Image.new("L", (size, size), 255).save(masks / f"{i:03d}_mask.png")
    (base / "license.txt").write_text("synthetic test pictures\n")
    return base


def write_messy_folder(root: Path, seed: int = 0, corrupt: bool = True) -> dict[str, int]:
    """An ImageFolder a user might have: class 'good part' (a space in the name) and 'scratch',
    PNG and JPEG, grey, RGB, RGBA, palette and 16-bit images of different sizes, nested
    subfolders, a notes file, and (``corrupt``) one file with an image suffix that is not an
    image. Returns the number of real images per class."""
    rng = np.random.default_rng(seed)
    counts = {"good part": 0, "scratch": 0}
    modes = ["RGB", "L", "RGBA", "P", "I;16"]
    for cls, defect in (("good part", None), ("scratch", "crack")):
        n = 14 if defect is None else 6
        for i in range(n):
            size = (24, 32, 40)[i % 3]
            picture = part_picture(rng, size, defect)
            mode = modes[i % len(modes)]
            folder = root / cls / ("batch2/line a" if i % 2 else "")
            folder.mkdir(parents=True, exist_ok=True)
            if mode == "I;16":
                grey = np.asarray(picture.convert("L"), dtype=np.uint16) * 257
                Image.fromarray(grey).save(folder / f"img{i}.png")  # 16-bit greyscale PNG
            elif mode == "P":
                picture.convert("P", palette=Image.Palette.ADAPTIVE).save(folder / f"img{i}.bmp")
            elif mode == "RGBA":
                picture.convert("RGBA").save(folder / f"img{i}.png")
            elif i % 4 == 0:
                picture.convert(mode).save(folder / f"img{i}.jpg", quality=90)
            else:
                picture.convert(mode).save(folder / f"img{i}.PNG")
            counts[cls] += 1
    (root / "good part" / "notes.txt").write_text("taken on line A\n")
    # hidden: a macOS resource fork (not an image) and a notebook's checkpoint copy
    (root / "good part" / "._img0.png").write_bytes(b"\x00\x05\x16\x07")
    (root / "good part" / ".ipynb_checkpoints").mkdir()
    picture.save(root / "good part" / ".ipynb_checkpoints" / "img2-checkpoint.png")
    if corrupt:
        (root / "scratch" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated")
    return counts


def foolbox_cifar_pngs() -> list[Path]:
    """The 20 real CIFAR-10 test images in PyPI foolbox's data/ (cifar10_<nn>_<label>.png),
    found without importing foolbox (it needs eagerpy, which we do not install)."""
    spec = importlib.util.find_spec("foolbox")
    if spec is None:
        return []
    return sorted(Path(spec.submodule_search_locations[0], "data").glob("cifar10_*.png"))


def write_foolbox_cifar_folder(root: Path) -> list[Path]:
    """The real CIFAR-10 PNGs as a 2-class folder dataset: vehicles vs animals (10 each)."""
    pngs = foolbox_cifar_pngs()
    for png in pngs:
        label = int(png.stem.split("_")[-1])
        cls = "vehicle" if label in (0, 1, 8, 9) else "animal"
        (root / cls / CIFAR_NAMES[label]).mkdir(parents=True, exist_ok=True)
        (root / cls / CIFAR_NAMES[label] / png.name).write_bytes(png.read_bytes())
    return pngs
