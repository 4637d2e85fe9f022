"""The image cache every stage after download reads: ``images.npy``, uncompressed uint8 images
(N, C, H, W) that jobs memory-map, and beside it ``images.labels.npz``: integer labels, one name
per class and, for image files, where each image came from.

A job reads only the rows it uses (``read_rows``, ``ImageRows``), with ``pread`` rather than
through the mapping: pages touched through a mapping count in the job's resident memory until
it ends, so a job that reads its whole training set once an epoch would end up holding it."""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import atomic_path

# rows per read or write when a whole array is copied (a few MB at 128 px)
CHUNK_ROWS = 256


def synthetic_images_path(balanced_path: str | Path) -> Path:
    """Where a balanced set's synthetic images are: ``smote-ae.npz`` -> ``smote-ae.images.npy``."""
    return Path(balanced_path).with_suffix(".images.npy")


def labels_path(images_path: str | Path) -> Path:
    """The labels file beside an image cache: ``images.npy`` -> ``images.labels.npz``."""
    return Path(images_path).with_suffix(".labels.npz")


def refuse_old_cache(path: str | Path) -> None:
    """The compressed ``images.npz`` of earlier versions cannot be memory-mapped: say how to
    remake the cache rather than reading it whole."""
    path = Path(path)
    is_zip = False
    if path.is_file():
        with path.open("rb") as handle:
            is_zip = handle.read(4) == b"PK\x03\x04"
    if path.suffix == ".npz" or is_zip:
        raise ValueError(
            f"{path} is an image cache of an earlier version (compressed images.npz), which jobs "
            "cannot memory-map. Remake the cache as images.npy: `snakemake --forcerun download` "
            f"(or delete {path} and rerun), then pass results/<dataset>/data/images.npy."
        )


def write_npy(path: str | Path, shape: tuple, chunks: Iterable[np.ndarray]) -> None:
    """An uint8 ``.npy`` of ``shape`` written from ``chunks`` (consecutive rows) with plain
    writes, never through a mapping (see the module's note); atomically: an interrupted write
    leaves nothing at ``path``."""
    with atomic_path(path) as tmp:
        header = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=tuple(shape))
        offset, written = header.offset, 0
        del header
        with open(tmp, "r+b") as handle:
            handle.seek(offset)
            for chunk in chunks:
                handle.write(np.ascontiguousarray(chunk, dtype=np.uint8).data)
                written += len(chunk)
        if written != shape[0]:
            raise ValueError(f"wrote {written} rows of {shape[0]} to {path}")


def save_labels(path, labels: np.ndarray, class_names: list[str], files=None) -> None:
    """The labels file of an image cache (``labels_path``), uncompressed and small."""
    arrays = {"labels": np.asarray(labels, np.int64), "class_names": np.array(class_names)}
    if files is not None:
        arrays["files"] = np.array(files, dtype=str)
    with atomic_path(labels_path(path)) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def load_labels(path) -> tuple[np.ndarray, list[str]]:
    """The labels and class names of the image cache ``path`` (``images.npy``, or its labels
    file itself), without a pixel."""
    if str(path).endswith(".labels.npz"):
        beside = Path(path)
    else:
        refuse_old_cache(path)
        beside = labels_path(path)
    if not beside.is_file():
        raise FileNotFoundError(
            f"{beside} is missing beside the image cache {path}: the cache is incomplete. "
            "Remake it: `snakemake --forcerun download`."
        )
    with np.load(beside, allow_pickle=False) as data:
        return data["labels"].astype(np.int64), [str(c) for c in data["class_names"]]


def read_rows(images: np.ndarray, indices) -> np.ndarray:
    """Rows ``indices`` of ``images`` as an array in memory. From a memory-mapped ``.npy`` (as
    ``ImageDataset.load`` maps it) they are read with ``pread``, one read per run of
    consecutive rows, so that the file's pages stay out of this process's resident memory."""
    indices = np.asarray(indices, dtype=np.int64).reshape(-1)
    if not (isinstance(images, np.memmap) and isinstance(images.base, mmap.mmap)):
        return np.asarray(images[indices])
    out = np.empty((len(indices), *images.shape[1:]), np.uint8)
    if not len(indices):
        return out
    if indices.min() < 0 or indices.max() >= len(images):
        raise IndexError(f"rows {indices.min()}..{indices.max()} of {len(images)}")
    order = np.argsort(indices, kind="stable")
    ordered = indices[order]
    in_order = bool((order == np.arange(len(order))).all())
    target = out if in_order else np.empty_like(out)
    row_bytes = out[0].nbytes
    breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
    with open(images.filename, "rb", buffering=0) as handle:
        for start, end in zip(np.r_[0, breaks], np.r_[breaks, len(ordered)], strict=True):
            view = memoryview(target[start:end].reshape(-1))
            done = os.preadv(
                handle.fileno(), [view], images.offset + int(ordered[start]) * row_bytes
            )
            if done != view.nbytes:
                raise OSError(f"{images.filename} is shorter than its header says; remake it")
    if not in_order:
        out[order] = target
    return out


class ImageRows:
    """Images (N, C, H, W) uint8 gathered on demand from ``parts``, each an array (often a
    memory-mapped cache) and the rows of it that belong here, in order: the fold's images, the
    real images a balanced set repeats, its synthetic ones. Nothing is read until ``take``."""

    def __init__(self, parts: list[tuple[np.ndarray, np.ndarray]]):
        self.parts = [(array, np.asarray(rows, np.int64).reshape(-1)) for array, rows in parts]
        if not self.parts:
            raise ValueError("ImageRows needs at least one part")
        shapes = {array.shape[1:] for array, _ in self.parts}
        if len(shapes) != 1:
            raise ValueError(f"parts of different image shapes: {sorted(shapes)}")
        self.ends = np.cumsum([len(rows) for _, rows in self.parts])

    def __len__(self) -> int:
        return int(self.ends[-1])

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.parts[0][0].shape[1:])

    @property
    def nbytes(self) -> int:
        return len(self) * int(np.prod(self.shape[1:]))

    def __getitem__(self, position: int) -> np.ndarray:
        """One image, read now (as an array's row; positions in batches: ``take``)."""
        return self.take([position])[0]

    def take(self, positions) -> np.ndarray:
        """The images at ``positions`` (in this order), uint8, read now."""
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        out = np.empty((len(positions), *self.shape[1:]), np.uint8)
        which = np.searchsorted(self.ends, positions, side="right")
        starts = np.r_[0, self.ends[:-1]]
        for k, (array, rows) in enumerate(self.parts):
            mine = np.flatnonzero(which == k)
            if len(mine):
                out[mine] = read_rows(array, rows[positions[mine] - starts[k]])
        return out

    def subset(self, positions) -> ImageRows:
        """These rows at ``positions`` only, still unread."""
        positions = np.asarray(positions, dtype=np.int64).reshape(-1)
        which = np.searchsorted(self.ends, positions, side="right")
        starts = np.r_[0, self.ends[:-1]]
        # one part per run of positions in the same part, so that their order is kept
        cuts = np.r_[0, np.flatnonzero(np.diff(which)) + 1, len(positions)]
        parts = []
        for a, b in zip(cuts[:-1], cuts[1:], strict=True):
            array, rows = self.parts[which[a]]
            parts.append((array, rows[positions[a:b] - starts[which[a]]]))
        return ImageRows(parts or [(self.parts[0][0], np.zeros(0, np.int64))])

    def chunks(self, rows: int = CHUNK_ROWS):
        """Every image in order, ``rows`` at a time."""
        for start in range(0, len(self), rows):
            yield self.take(np.arange(start, min(start + rows, len(self))))


@dataclass
class ImageDataset:
    """Images as uint8 (N, C, H, W), labels as int64 in 0..K-1, one name per class; for sources
    read from image files, each image's path relative to the dataset root. ``images`` is an
    array in memory or, as ``load`` gives it, the memory-mapped cache."""

    images: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    files: list[str] | None = None

    def __post_init__(self):
        if self.images.ndim != 4 or self.images.dtype != np.uint8:
            raise ValueError(
                f"images must be uint8 (N, C, H, W), got {self.images.dtype} {self.images.shape}"
            )
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        present = np.unique(self.labels)
        if present.min() < 0 or present.max() >= len(self.class_names):
            raise ValueError(f"labels {present} do not index the {len(self.class_names)} classes")
        if self.files is not None and len(self.files) != len(self.images):
            raise ValueError(f"{len(self.images)} images but {len(self.files)} file names")

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])

    def rows(self, indices) -> np.ndarray:
        """The images at dataset ``indices``, read now (``read_rows``)."""
        return read_rows(self.images, indices)

    def view(self, indices) -> ImageRows:
        """The images at dataset ``indices``, unread."""
        return ImageRows([(self.images, indices)])

    def save(self, path: str | Path) -> None:
        """The cache: ``path`` (``images.npy``) and its labels file beside it; the images last,
        so that a cache whose images are there is whole."""
        labels_path(path).unlink(missing_ok=True)
        save_labels(path, self.labels, self.class_names, self.files)
        n = len(self.images)
        chunks = (self.images[i : i + CHUNK_ROWS] for i in range(0, n, CHUNK_ROWS))
        write_npy(path, self.images.shape, chunks)

    @classmethod
    def load(cls, path: str | Path) -> ImageDataset:
        """The cache at ``path``, its images memory-mapped (read-only), nothing read yet."""
        refuse_old_cache(path)
        labels, class_names = load_labels(path)
        with np.load(labels_path(path), allow_pickle=False) as data:
            files = [str(f) for f in data["files"]] if "files" in data.files else None
        images = np.load(path, mmap_mode="r", allow_pickle=False)
        if len(images) != len(labels):
            raise ValueError(
                f"{path} holds {len(images)} images but {labels_path(path)} {len(labels)} labels: "
                "the cache is incomplete. Remake it: `snakemake --forcerun download`."
            )
        return cls(images=images, labels=labels, class_names=class_names, files=files)
