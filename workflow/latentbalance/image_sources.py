"""Image-file sources: an ImageFolder tree of the user's own images (one subfolder per class) and
MVTec AD categories as good-vs-defect, decoded once into an ``ImageDataset``."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .datasets import ImageDataset
from .images import IMAGE_SUFFIXES, BadImageError, find_images, read_image

log = logging.getLogger(__name__)


SKIP_HINT = "replace or delete the file, or set 'skip_bad_images: true' to skip unreadable files"


def read_image_files(
    paths: list[Path],
    size: tuple[int, int] | None,
    channels: int | None,
    skip_bad_images: bool,
    skipped: list[BadImageError],
):
    """Decode every file; returns (images uint8 (N, C, H, W), positions of the files kept).

    ``channels`` None: 1 if no image has colour, else 3. Without ``size`` every image must
    already have the same size."""
    arrays, kept = [], []
    for position, path in enumerate(tqdm(paths, desc="reading images", unit="image")):
        try:
            arrays.append(read_image(path, size, channels or 3))
        except BadImageError as error:
            if not skip_bad_images:
                raise BadImageError(path, f"{error.reason}; {SKIP_HINT}") from error
            log.warning("skipped %s", error)
            skipped.append(error)
            continue
        kept.append(position)
    if not arrays:
        raise ValueError("no readable images")
    sizes = {}
    for position, array in zip(kept, arrays, strict=True):
        sizes.setdefault(array.shape[1:], paths[position])
    if len(sizes) > 1:
        examples = "; ".join(f"{p} is {h}x{w}" for (h, w), p in list(sizes.items())[:3])
        raise ValueError(
            f"the images differ in size ({examples}). Set 'image_size: [height, width]' "
            "(or one number for square images) for this dataset so that every image is resized."
        )
    images = np.stack(arrays)
    if channels is None:
        grey = bool((images[:, 0] == images[:, 1]).all() and (images[:, 1] == images[:, 2]).all())
        log.info(
            "channels not set: every image is %s", "grey, using 1" if grey else "colour, using 3"
        )
        if grey:
            images = np.ascontiguousarray(images[:, :1])
    return images, np.array(kept, dtype=np.int64)


def log_ignored_files(folder: Path) -> None:
    """Files without an image suffix are not read; say so, so that nothing vanishes unnoticed."""
    images = set(find_images(folder))
    ignored = [p for p in sorted(folder.rglob("*")) if p.is_file() and p not in images]
    if ignored:
        shown = ", ".join(str(p) for p in ignored[:5])
        log.info(
            "ignored %d file(s) in %s that are hidden or not images (%s), e.g. %s",
            len(ignored),
            folder,
            " ".join(IMAGE_SUFFIXES),
            shown,
        )


def dataset_from_files(
    root: Path,
    paths: list[Path],
    labels: list[int],
    class_names: list[str],
    class_folders: list[str],
    size: tuple[int, int] | None,
    channels: int | None,
    skip_bad_images: bool,
    skipped: list[BadImageError],
) -> ImageDataset:
    images, kept = read_image_files(paths, size, channels, skip_bad_images, skipped)
    labels = np.asarray(labels, dtype=np.int64)[kept]
    counts = np.bincount(labels, minlength=len(class_names))
    for name, folder, count in zip(class_names, class_folders, counts, strict=True):
        if count < 2:
            what = "no readable image" if count == 0 else "a single image"
            raise ValueError(
                f"class {name!r} ({folder}) has {what}; every class needs at least 2 (one for "
                "the independent test set, one for training) and realistically many more. "
                "Add images or remove the class folder."
            )
    files = [paths[i].relative_to(root).as_posix() for i in kept]
    return ImageDataset(images, labels, class_names, files)


def load_folder(
    root: str | Path,
    image_size: tuple[int, int] | None,
    channels: int | None,
    skip_bad_images: bool,
    skipped: list[BadImageError],
) -> ImageDataset:
    """An ImageFolder-style tree: ``root/<class name>/**/<image>``, class names = folder names
    (sorted), images found recursively by suffix."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"the dataset root {root} does not exist or is not a folder. Set 'root' to the "
            "folder that holds one subfolder per class, e.g. root/good/*.png and root/defect/*.png."
        )
    folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if len(folders) < 2:
        raise ValueError(
            f"{root} holds {len(folders)} class folder(s) ({', '.join(d.name for d in folders)}); "
            "a folder dataset needs one subfolder per class and at least two classes."
        )
    loose = [p for p in root.iterdir() if p.is_file() and not p.name.startswith(".")]
    if loose:
        log.warning("ignored %d file(s) directly in %s (not in a class folder)", len(loose), root)
    paths, labels = [], []
    for label, folder in enumerate(folders):
        found = find_images(folder)
        log_ignored_files(folder)
        if not found:
            raise ValueError(
                f"class folder {folder} holds no images (suffixes {' '.join(IMAGE_SUFFIXES)}). "
                "Add images or remove the folder."
            )
        paths += found
        labels += [label] * len(found)
    names = [d.name for d in folders]
    return dataset_from_files(
        root,
        paths,
        labels,
        names,
        [str(d) for d in folders],
        image_size,
        channels,
        skip_bad_images,
        skipped,
    )


MVTEC_PAGE = "https://www.mvtec.com/company/research/datasets/mvtec-ad"


def fetch_mvtec(root: Path, category: str, url: str) -> None:
    """Download and extract one category tarball (e.g. bottle.tar.xz) into ``root``."""
    from torchvision.datasets.utils import download_and_extract_archive

    log.info("downloading MVTec AD %s from %s", category, url)
    download_and_extract_archive(url, download_root=str(root), remove_finished=True)
    if not (root / category).is_dir():
        raise FileNotFoundError(
            f"the archive from {url} did not contain a {category}/ folder; check 'url' "
            f"(it should be MVTec AD's {category}.tar.xz) and 'category'"
        )


def load_mvtec(
    root: str | Path,
    category: str,
    image_size: tuple[int, int] | None,
    channels: int | None,
    download: bool,
    url: str | None,
    skip_bad_images: bool,
    skipped: list[BadImageError],
) -> ImageDataset:
    """One MVTec AD category in its official layout, pooled into two classes: ``good``
    (train/good + test/good) and ``defect`` (every test/<defect type>). ground_truth/ masks are
    not read. Resized to ``image_size`` (default 64x64), RGB unless ``channels: 1``."""
    root = Path(root)
    base = root / category
    if not base.is_dir():
        if download and url:
            fetch_mvtec(root, category, url)
        else:
            how = (
                "'download: true' needs 'url' (the category tarball's address from the MVTec page)"
                if download
                else "or set 'url' to the category tarball's address and 'download: true'"
            )
            raise FileNotFoundError(
                f"MVTec AD category {category!r} is not at {base}. Download {category}.tar.xz "
                f"from {MVTEC_PAGE} (licence CC BY-NC-SA 4.0) and extract it into {root}, so "
                f"that {base / 'train' / 'good'} holds the good training images; {how}."
            )
    train_good, test = base / "train" / "good", base / "test"
    for required in (train_good, test):
        if not required.is_dir():
            raise FileNotFoundError(
                f"{base} is not a complete MVTec AD category: {required} is missing. Expected "
                f"the official layout {category}/train/good/, {category}/test/good/ and "
                f"{category}/test/<defect type>/; extract {category}.tar.xz again into {root}."
            )
    defect_folders = sorted(d for d in test.iterdir() if d.is_dir() and d.name != "good")
    if not defect_folders:
        raise ValueError(f"{test} has no defect folders (test/<defect type>/); nothing to classify")
    good = find_images(train_good) + find_images(test / "good")
    defects = [find_images(folder) for folder in defect_folders]
    log.info(
        "MVTec %s: %d good, defects %s",
        category,
        len(good),
        {d.name: len(found) for d, found in zip(defect_folders, defects, strict=True)},
    )
    paths = good + [p for found in defects for p in found]
    labels = [0] * len(good) + [1] * (len(paths) - len(good))
    return dataset_from_files(
        root,
        paths,
        labels,
        ["good", "defect"],
        [str(train_good), str(test / "<defect type>")],
        image_size or (64, 64),
        channels or 3,
        skip_bad_images,
        skipped,
    )
