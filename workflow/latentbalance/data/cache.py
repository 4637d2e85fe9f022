"""Image files decoded straight into the image cache (``image_dataset``): ``workers`` processes
each decode a chunk of files and write its rows at their place in the ``.npy`` (plain writes at
an offset, never through a mapping); the main process keeps only which files were read, so
memory does not grow with the number of images.

The rows are written to a hidden file beside the cache, renamed to it only when every file is
read; an interrupted download leaves no cache, and the next one removes what it left."""

from __future__ import annotations

import logging
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .decode import BadImageError, ImageReading, read_image
from .files import SKIP_HINT, check_class_counts
from .image_dataset import CHUNK_ROWS, labels_path, read_rows, save_labels, write_npy

log = logging.getLogger(__name__)

# files per task a worker decodes: enough to make the hand-over cheap, few enough for the bar
FILES_PER_TASK = 64


@dataclass
class Decoded:
    """What a worker read of its files: the positions written, the unreadable files (path,
    reason), one file per other image size met, and whether any image has colour."""

    positions: list[int] = field(default_factory=list)
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    other_sizes: dict[tuple[int, int], str] = field(default_factory=dict)
    coloured: bool = False


def decode_into(task: tuple) -> Decoded:
    """Decode ``files`` (position, path) and write each at its row of the ``.npy`` at ``path``
    (rows of ``shape`` from byte ``offset``). Stops at the first unreadable file unless
    ``skip``, and at the first image of another size."""
    path, offset, shape, files, reading = task
    decoded, row_bytes = Decoded(), int(np.prod(shape))
    with open(path, "r+b", buffering=0) as handle:
        for position, file in files:
            try:
                pixels = read_image(file, reading.size, reading.channels or 3)
            except BadImageError as error:
                decoded.unreadable.append((str(error.path), error.reason))
                if not reading.skip_bad_images:
                    break
                continue
            if pixels.shape != shape:
                decoded.other_sizes.setdefault(pixels.shape[1:], str(file))
                break
            if reading.channels is None and not decoded.coloured:
                decoded.coloured = bool(
                    (pixels[0] != pixels[1]).any() or (pixels[1] != pixels[2]).any()
                )
            os.pwrite(handle.fileno(), pixels.data, offset + position * row_bytes)
            decoded.positions.append(position)
    return decoded


def _quiet_worker() -> None:
    # Ctrl-C reaches every process of the job: the main one stops the workers and cleans up
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@contextmanager
def terminated_as_exit():
    """SIGTERM (Snakemake stopping a job, a cluster's time limit) unwinds like Ctrl-C, so that
    the half-written file is removed."""
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def first_shape(paths: list[Path], reading: ImageReading) -> tuple[int, int, int]:
    """(C, H, W) of the cache: ``reading.size`` or the first readable file's size."""
    channels = reading.channels or 3
    if reading.size is not None:
        return (channels, *reading.size)
    for path in paths:
        try:
            return read_image(path, None, channels).shape
        except BadImageError:
            if not reading.skip_bad_images:
                raise
    return (channels, 0, 0)


def decode_all(paths, reading, raw: Path, shape, workers: int) -> Decoded:
    """Every file decoded into ``raw`` (made here, one row per file), by ``workers`` processes;
    returns what was read, raising at the first unreadable file (unless skipped) or other size."""
    header = np.lib.format.open_memmap(raw, mode="w+", dtype=np.uint8, shape=(len(paths), *shape))
    offset = header.offset
    del header
    numbered = list(enumerate(paths))
    tasks = [
        (raw, offset, shape, numbered[i : i + FILES_PER_TASK], reading)
        for i in range(0, len(numbered), FILES_PER_TASK)
    ]
    total = Decoded()
    bar = tqdm(total=len(paths), desc="reading images", unit="image", mininterval=2)
    pool = ProcessPoolExecutor(workers, initializer=_quiet_worker) if workers > 1 else None
    try:
        results = pool.map(decode_into, tasks) if pool else map(decode_into, tasks)
        for (_, _, _, files, _), decoded in zip(tasks, results, strict=True):
            refuse_bad_chunk(decoded, reading, paths[0], shape)
            total.positions += decoded.positions
            total.unreadable += decoded.unreadable
            total.coloured |= decoded.coloured
            bar.update(len(files))
    finally:
        bar.close()
        if pool:
            pool.shutdown(wait=True, cancel_futures=True)
    return total


def refuse_bad_chunk(decoded: Decoded, reading: ImageReading, first: Path, shape) -> None:
    """A worker's stop: an unreadable file (not skipped) or an image of another size."""
    if decoded.unreadable and not reading.skip_bad_images:
        path, reason = decoded.unreadable[0]
        raise BadImageError(path, f"{reason}; {SKIP_HINT}")
    if decoded.other_sizes:
        (height, width), path = next(iter(decoded.other_sizes.items()))
        raise ValueError(
            f"the images differ in size ({first} is {shape[1]}x{shape[2]}; {path} is "
            f"{height}x{width}). Set 'image_size: [height, width]' (or one number for square "
            "images) for this dataset so that every image is resized."
        )


def cache_files(files, reading: ImageReading, skipped: list, path, workers: int = 1) -> tuple:
    """Decode ``files`` (a ``files.SourceFiles``) into the cache at ``path`` (``images.npy`` and
    its labels file), ``workers`` processes at a time. Unreadable files skipped under
    ``reading.skip_bad_images`` are appended to ``skipped``. With ``reading.channels`` unset,
    images are kept as one channel when none has colour. Returns the labels and image shape."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    raw = path.with_name(f".{path.name}.decoding{os.getpid()}")
    shape = first_shape(files.paths, reading)
    try:
        with terminated_as_exit():
            decoded = decode_all(files.paths, reading, raw, shape, workers)
            for file, reason in decoded.unreadable:
                error = BadImageError(file, reason)
                log.warning("skipped %s", error)
                skipped.append(error)
            kept = np.sort(np.asarray(decoded.positions, dtype=np.int64))
            if not len(kept):
                raise ValueError("no readable images")
            labels = np.asarray(files.labels, dtype=np.int64)[kept]
            check_class_counts(files, labels)
            channels = shape[0]
            if reading.channels is None:
                channels = 3 if decoded.coloured else 1
                log.info(
                    "channels not set: every image is %s",
                    "colour, using 3" if channels == 3 else "grey, using 1",
                )
            names = [files.paths[i].relative_to(files.root).as_posix() for i in kept]
            save_labels(path, labels, files.class_names, names)
            final = (len(kept), channels, *shape[1:])
            if final == (len(files.paths), *shape):
                os.replace(raw, path)
            else:  # drop the skipped files' rows, or two channels of grey images
                rows = np.load(raw, mmap_mode="r")
                chunks = (
                    read_rows(rows, kept[i : i + CHUNK_ROWS])[:, :channels]
                    for i in range(0, len(kept), CHUNK_ROWS)
                )
                write_npy(path, final, chunks)
    except BaseException:
        labels_path(path).unlink(missing_ok=True)
        raise
    finally:
        raw.unlink(missing_ok=True)
    return labels, final[1:]


def remove_leftovers(path) -> None:
    """Half-written files a killed download left beside the cache at ``path``."""
    path = Path(path)
    if path.parent.is_dir():
        for leftover in path.parent.glob(f".{path.name}.*"):
            leftover.unlink(missing_ok=True)
        for leftover in path.parent.glob(f".{labels_path(path).name}.*"):
            leftover.unlink(missing_ok=True)
