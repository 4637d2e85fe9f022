"""Image-file sources: an ImageFolder tree of the user's own images (one subfolder per class) and
MVTec AD categories as good-vs-defect, decoded once into an ``ImageDataset``."""

from __future__ import annotations

import logging
import lzma
import tarfile
import tempfile
import unicodedata
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from .decode import IMAGE_SUFFIXES, BadImageError, ImageReading, find_images, read_images
from .downloads import download_failures
from .image_dataset import ImageDataset

log = logging.getLogger(__name__)


SKIP_HINT = "replace or delete the file, or set 'skip_bad_images: true' to skip unreadable files"


@dataclass
class SourceFiles:
    """The image files a source reads, before any is decoded. ``labels[i]`` is the class of
    ``paths[i]``; the classes are in label order, the order of 'imbalance.counts'. ``ignored``:
    files beside them that are not read (hidden, not images, outside every class folder)."""

    root: Path
    paths: list[Path]
    labels: list[int]
    class_names: list[str]
    class_folders: list[str]
    ignored: list[Path]


def ignored_files(folder: Path, images: list[Path]) -> list[Path]:
    """The files under ``folder`` that are not among its ``images`` (hidden or not images)."""
    read = set(images)
    return [p for p in sorted(folder.rglob("*")) if p.is_file() and p not in read]


def log_ignored_files(folder: Path, ignored: list[Path]) -> None:
    """Files without an image suffix are not read; say so, so that nothing vanishes unnoticed."""
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
    files: SourceFiles, reading: ImageReading, skipped: list[BadImageError]
) -> ImageDataset:
    """The source's files decoded. An unreadable file stops it with the way to go on, unless
    ``reading.skip_bad_images``: then each is logged and appended to ``skipped``."""
    try:
        decoded = read_images(files.paths, reading)
    except BadImageError as error:
        raise BadImageError(error.path, f"{error.reason}; {SKIP_HINT}") from error
    for error in decoded.unreadable:
        log.warning("skipped %s", error)
    skipped.extend(decoded.unreadable)
    if not len(decoded.kept):
        raise ValueError("no readable images")
    labels = np.asarray(files.labels, dtype=np.int64)[decoded.kept]
    check_class_counts(files, labels)
    names = [files.paths[i].relative_to(files.root).as_posix() for i in decoded.kept]
    return ImageDataset(decoded.images, labels, files.class_names, names)


def check_class_counts(files: SourceFiles, labels: np.ndarray) -> None:
    """Every class needs two readable images; ``labels``: those of the images read."""
    counts = np.bincount(labels, minlength=len(files.class_names))
    for name, folder, count in zip(files.class_names, files.class_folders, counts, strict=True):
        if count < 2:
            what = "no readable image" if count == 0 else "a single image"
            raise ValueError(
                f"class {name!r} ({folder}) has {what}; every class needs at least 2 (one for "
                "the independent test set, one for training) and realistically many more. "
                "Add images or remove the class folder."
            )


def refuse_names_equal_up_to_case(folders: list[Path]) -> None:
    """Two class folders whose names differ only in case (or in Unicode normalisation) are one
    folder on macOS and Windows: copied there, their images and results would collide."""
    seen = {}
    for folder in folders:
        key = unicodedata.normalize("NFC", folder.name).casefold()
        if key in seen:
            raise ValueError(
                f"the class folders {seen[key]} and {folder} have names that differ only in "
                "case; on macOS and Windows they are one folder, and copied there their images "
                "and results collide. Move the images of one into the other if they are one "
                "class, or rename one (e.g. add a suffix: -2) if they are two."
            )
        seen[key] = folder


def class_folders(root: Path) -> list[Path]:
    """The class folders of an ImageFolder tree in label order: folder names sorted by code
    point (upper case before lower case, 'Z' before 'a'); hidden folders are not classes."""
    if not root.is_dir():
        raise FileNotFoundError(
            f"the dataset root {root} does not exist or is not a folder. Set 'root' to the "
            "folder that holds one subfolder per class, e.g. root/good/*.png and root/defect/*.png."
        )
    folders = sorted(d for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    refuse_names_equal_up_to_case(folders)
    if len(folders) < 2:
        raise ValueError(
            f"{root} holds {len(folders)} class folder(s) ({', '.join(d.name for d in folders)}); "
            "a folder dataset needs one subfolder per class and at least two classes."
        )
    return folders


def folder_files(root: str | Path) -> SourceFiles:
    """The files of an ImageFolder-style tree: ``root/<class name>/**/<image>``, class names =
    folder names (sorted), images found recursively by suffix."""
    root = Path(root)
    folders = class_folders(root)
    loose = sorted(p for p in root.iterdir() if p.is_file() and not p.name.startswith("."))
    if loose:
        log.warning("ignored %d file(s) directly in %s (not in a class folder)", len(loose), root)
    paths, labels, ignored = [], [], list(loose)
    for label, folder in enumerate(folders):
        found = find_images(folder)
        not_read = ignored_files(folder, found)
        log_ignored_files(folder, not_read)
        ignored += not_read
        if not found:
            raise ValueError(
                f"class folder {folder} holds no images (suffixes {' '.join(IMAGE_SUFFIXES)}). "
                "Add images or remove the folder."
            )
        paths += found
        labels += [label] * len(found)
    names = [d.name for d in folders]
    return SourceFiles(root, paths, labels, names, [str(d) for d in folders], ignored)


def load_folder(
    root: str | Path, reading: ImageReading, skipped: list[BadImageError]
) -> ImageDataset:
    """An ImageFolder-style tree (see ``folder_files``), decoded."""
    return dataset_from_files(folder_files(root), reading, skipped)


MVTEC_PAGE = "https://www.mvtec.com/company/research/datasets/mvtec-ad"


def fetch_mvtec(root: Path, category: str, url: str) -> None:
    """Download and extract one category tarball (e.g. bottle.tar.xz) into ``root``. It is
    extracted beside ``root/<category>`` and moved there only when whole: a truncated or corrupt
    archive leaves nothing that a later run would take for the category."""
    from torchvision.datasets.utils import download_url, extract_archive

    log.info("downloading MVTec AD %s from %s", category, url)
    offline = (
        f"fetch {category}.tar.xz from {MVTEC_PAGE} on a machine with internet and extract it "
        f"into {root}, so that {root / category / 'train' / 'good'} holds the good training images"
    )
    root.mkdir(parents=True, exist_ok=True)
    archive = root / Path(urlparse(url).path).name
    with download_failures(f"MVTec AD {category}", [url], offline):
        download_url(url, str(root), filename=archive.name)
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{category}-extracting-") as unpacked:
        try:
            extract_archive(str(archive), unpacked)
        except (tarfile.TarError, lzma.LZMAError, zlib.error, EOFError, OSError) as error:
            raise ValueError(
                f"the archive downloaded from {url} ({archive}) is not a readable tarball "
                f"({error}): the transfer was cut short or 'url' names another file. It was "
                f"deleted; rerun to download it again, or {offline}."
            ) from error
        finally:
            archive.unlink(missing_ok=True)
        if not (Path(unpacked) / category).is_dir():
            raise FileNotFoundError(
                f"the archive from {url} did not contain a {category}/ folder; check 'url' "
                f"(it should be MVTec AD's {category}.tar.xz) and 'category'"
            )
        (Path(unpacked) / category).rename(root / category)


def load_mvtec(
    root: str | Path,
    category: str,
    download: bool,
    url: str | None,
    reading: ImageReading,
    skipped: list[BadImageError],
) -> ImageDataset:
    """One MVTec AD category in its official layout, pooled into two classes: ``good``
    (train/good + test/good) and ``defect`` (every test/<defect type>). ground_truth/ masks are
    not read. Resized to ``reading.size`` (default 64x64), RGB unless ``reading.channels`` is 1."""
    return dataset_from_files(*mvtec_source(root, category, download, url, reading), skipped)


def mvtec_source(
    root: str | Path, category: str, download: bool, url: str | None, reading: ImageReading
) -> tuple[SourceFiles, ImageReading]:
    """An MVTec AD category's files (fetched first when asked) and how to read them (see
    ``load_mvtec``)."""
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
    reading = replace(reading, size=reading.size or (64, 64), channels=reading.channels or 3)
    return mvtec_files(root, category), reading


def mvtec_files(root: str | Path, category: str) -> SourceFiles:
    """The files of one MVTec AD category under ``root``: class ``good`` (train/good +
    test/good) and ``defect`` (every test/<defect type>); ground_truth/ is not read."""
    root = Path(root)
    base = root / category
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
    paths, labels, ignored, per_defect = [], [], [], {}
    for label, folder in [(0, train_good), (0, test / "good")] + [(1, d) for d in defect_folders]:
        found = find_images(folder) if folder.is_dir() else []
        not_read = ignored_files(folder, found) if folder.is_dir() else []
        log_ignored_files(folder, not_read)
        paths += found
        labels += [label] * len(found)
        ignored += not_read
        if label == 1:
            per_defect[folder.name] = len(found)
    log.info("MVTec %s: %d good, defects %s", category, labels.count(0), per_defect)
    return SourceFiles(
        root,
        paths,
        labels,
        ["good", "defect"],
        [str(train_good), str(test / "<defect type>")],
        ignored,
    )
