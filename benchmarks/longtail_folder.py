"""Write a long-tailed folder of real FashionMNIST images as RGB PNGs, one sub-folder per class,
as the ``folder`` source reads it: the stand-in for a user's own photos at a real size.

    python benchmarks/longtail_folder.py --n 15000 --size 128 --ratio 100 /tmp/fmnist-lt-128
    latentbalance inspect /tmp/fmnist-lt-128 --write my.yaml

The 70,000 images (train + test pooled) come from the original idx files that the Debian package
``dataset-fashion-mnist`` installs (``--source``). Class ``c`` of 10 gets
``n_max * ratio ** (-c / 9)`` images (exponential decay, ``n_max`` chosen so the total is
``--n``); folders are named ``<c>_<class>``, so that their sorted order, the labels' order, runs
from the largest class to the smallest. Each image is resized (bilinear) and tinted with a random
colour, so that the images are real colour images (a grey image repeated to three channels would
be read as one channel). A class asked for more images than FashionMNIST has (7,000) reuses its
images, each reuse flipped and shifted by a few pixels so that no two files are equal; the
script says how many are reuses. The folder is written beside ``OUT`` and renamed to it only when
whole; ``--workers`` processes encode the PNGs.
"""

from __future__ import annotations

import argparse
import gzip
import os
import shutil
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

CLASSES = ["tshirt", "trouser", "pullover", "dress", "coat"]
CLASSES += ["sandal", "shirt", "sneaker", "bag", "boot"]
IDX = {
    "images": ["train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz"],
    "labels": ["train-labels-idx1-ubyte.gz", "t10k-labels-idx1-ubyte.gz"],
}

# set in each worker by _start_worker: the pooled FashionMNIST images (N, 28, 28)
_source_images: np.ndarray | None = None


def read_idx(source: Path) -> tuple[np.ndarray, np.ndarray]:
    """FashionMNIST's 70,000 images (N, 28, 28) uint8 and labels, train then test."""

    def read(name: str, offset: int) -> np.ndarray:
        with gzip.open(source / name, "rb") as handle:
            return np.frombuffer(handle.read(), dtype=np.uint8, offset=offset)

    images = np.concatenate([read(n, 16) for n in IDX["images"]]).reshape(-1, 28, 28)
    labels = np.concatenate([read(n, 8) for n in IDX["labels"]]).astype(np.int64)
    return images, labels


def long_tail_counts(n: int, ratio: float, n_classes: int = 10) -> list[int]:
    """Per-class counts that decay exponentially from the first class to the last by ``ratio``
    and sum to ``n`` (every class at least 2)."""
    shares = ratio ** (-np.arange(n_classes) / (n_classes - 1))
    counts = np.maximum(np.floor(shares / shares.sum() * n).astype(int), 2)
    counts[0] += n - counts.sum()  # the rounding's remainder to the largest class
    return counts.tolist()


def plan(labels: np.ndarray, counts: list[int], seed: int) -> list[tuple[int, int, int, int]]:
    """One (file number, class, source image, reuse) per image to write; ``reuse`` 0 is the
    image itself, k > 0 its k-th flipped and shifted variant."""
    rng = np.random.default_rng(seed)
    jobs, number = [], 0
    for label, count in enumerate(counts):
        pool = rng.permutation(np.flatnonzero(labels == label))
        for i in range(count):
            jobs.append((number, label, int(pool[i % len(pool)]), i // len(pool)))
            number += 1
    return jobs


def _start_worker(source: str) -> None:
    global _source_images
    _source_images = read_idx(Path(source))[0]


def render(source_image: np.ndarray, size: int, reuse: int, seed: int) -> Image.Image:
    """One tinted RGB image at ``size`` px; a reuse is flipped and shifted (up to 2 px at 28)."""
    rng = np.random.default_rng(seed)
    grey = source_image
    if reuse:
        grey = np.roll(grey[:, ::-1], tuple(rng.integers(-2, 3, size=2)), axis=(0, 1))
    tint = 0.4 + 0.6 * rng.random(3)  # a random colour, bright enough to keep the shape
    rgb = (grey[..., None].astype(np.float32) * tint).round().astype(np.uint8)
    return Image.fromarray(rgb, "RGB").resize((size, size), Image.Resampling.BILINEAR)


def write_chunk(chunk: list[tuple[int, int, int, int]], out: str, size: int, seed: int) -> int:
    for number, label, index, reuse in chunk:
        image = render(_source_images[index], size, reuse, seed * 1_000_003 + number)
        # compress_level 1: a tenth of level 6's encoding time, files ~20 % larger
        image.save(Path(out, f"{label}_{CLASSES[label]}", f"{number:06d}.png"), compress_level=1)
    return len(chunk)


def write_folder(args) -> None:
    images, labels = read_idx(args.source)
    counts = long_tail_counts(args.n, args.ratio)
    jobs = plan(labels, counts, args.seed)
    available = np.bincount(labels, minlength=10)
    reused = sum(max(0, c - a) for c, a in zip(counts, available, strict=True))
    print(f"per class: {dict(zip(CLASSES, counts, strict=True))}; {reused} reused images")
    out = Path(args.out)
    if out.exists():
        raise SystemExit(f"{out} exists; delete it or name another folder")
    partial = out.with_name(f".{out.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    for label, name in enumerate(CLASSES):
        (partial / f"{label}_{name}").mkdir(parents=True)
    chunks = [jobs[i : i + 500] for i in range(0, len(jobs), 500)]
    start, done = time.perf_counter(), 0
    starter = {"initializer": _start_worker, "initargs": (args.source,)}
    with ProcessPoolExecutor(args.workers, **starter) as pool:
        work = [pool.submit(write_chunk, c, str(partial), args.size, args.seed) for c in chunks]
        for future in work:
            done += future.result()
            print(f"\r{done}/{len(jobs)} images", end="", file=sys.stderr)
    partial.rename(out)
    seconds = time.perf_counter() - start
    print(f"\nwrote {len(jobs)} images to {out} in {seconds:.1f} s ({len(jobs) / seconds:.0f}/s)")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", help="the folder to write (must not exist)")
    parser.add_argument("--n", type=int, default=15000, help="images in all (default 15000)")
    parser.add_argument("--size", type=int, default=128, help="side in pixels (default 128)")
    parser.add_argument("--ratio", type=float, default=100, help="largest/smallest class")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument(
        "--source",
        type=Path,
        default=Path("/usr/share/datasets/fashion-mnist"),
        help="folder of FashionMNIST's four idx .gz files (Debian: dataset-fashion-mnist)",
    )
    args = parser.parse_args(argv)
    missing = [n for n in IDX["images"] + IDX["labels"] if not (args.source / n).is_file()]
    if missing:
        raise SystemExit(
            f"{args.source} lacks {', '.join(missing)}: install the Debian package "
            "dataset-fashion-mnist, or pass --source with the four idx .gz files"
        )
    write_folder(args)


if __name__ == "__main__":
    main()
