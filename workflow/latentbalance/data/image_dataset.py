"""The image cache every stage after download reads: ``images.npz``, uint8 images (N, C, H, W)
plus integer labels, one name per class and, for image files, where each image came from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..io import atomic_path


@dataclass
class ImageDataset:
    """Images as uint8 (N, C, H, W), labels as int64 in 0..K-1, one name per class; for sources
    read from image files, each image's path relative to the dataset root."""

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

    def save(self, path: str | Path) -> None:
        arrays = {
            "images": self.images,
            "labels": self.labels,
            "class_names": np.array(self.class_names),
        }
        if self.files is not None:
            arrays["files"] = np.array(self.files, dtype=str)
        with atomic_path(path) as tmp, open(tmp, "wb") as handle:
            np.savez_compressed(handle, **arrays)

    @classmethod
    def load(cls, path: str | Path) -> ImageDataset:
        with np.load(path, allow_pickle=False) as data:
            return cls(
                images=data["images"],
                labels=data["labels"].astype(np.int64),
                class_names=[str(c) for c in data["class_names"]],
                files=[str(f) for f in data["files"]] if "files" in data.files else None,
            )
