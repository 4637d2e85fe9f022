"""What every Snakemake script does first: log to the rule's log file, take a GPU of its own,
use the rule's threads, exit without a final garbage collection, and turn the rule's config blocks
into recipes; and, when the workflow is read, how many GPU jobs run at once."""

from __future__ import annotations

import atexit
import fcntl
import gc
import itertools
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

from .data.image_dataset import load_labels
from .rebalance.methods import parse_method
from .settings.recipes import Compute, latent_size
from .training.budget import balanced_counts, oversample_held_bytes, sampler_width
from .training.environment import driver_gpus

log = logging.getLogger(__name__)


def gpu_out_of_memory_marker(checkpoint) -> Path:
    """Beside a training job's checkpoint: left by a try that ran out of GPU memory, so that the
    retry does not ask for more host memory, which cannot help it."""
    return Path(checkpoint).with_suffix(".gpu-out-of-memory")


def host_memory_mb(base_mb: int, attempt: int, checkpoint) -> int:
    """A training job's host memory (``mem_mb``): doubled on each retry, as for a job killed for
    host memory, unless the try before ran out of GPU memory."""
    return base_mb if gpu_out_of_memory_marker(checkpoint).exists() else base_mb * attempt


# A training batch's host memory per byte of its uint8 images: the batch as float (4), and the
# network's activations and their gradients on the CPU; ResNet-18 with the compact stem at
# 128 px RGB, batch 100, held ~2.4 GB beyond torch (benchmarks/RESULTS.md, "image cache")
BATCH_BYTES_PER_IMAGE_BYTE = 500


def cache_shape(images_path) -> tuple[int, ...]:
    """The image cache's shape (images, channels, height, width), from its ``.npy`` header."""
    with open(images_path, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        read = np.lib.format.read_array_header_1_0
        if version != (1, 0):
            read = np.lib.format.read_array_header_2_0
        shape, _, _ = read(handle)
    return tuple(shape)


def cache_rows(images_path) -> tuple[int, int]:
    """The image cache's number of images and bytes per image."""
    shape = cache_shape(images_path)
    return shape[0], int(np.prod(shape[1:]))


def data_memory_mb(images_path, base_mb: int, batch_size: int = 0, held_rows: int = 0) -> int:
    """A job's host memory (``mem_mb``) from the data it holds: ``base_mb`` (Python, torch, the
    network and its optimiser), one training batch of ``batch_size`` images with its
    activations, and ``held_rows`` images' bytes (what a job must hold, e.g. a fold's images
    for a pixel-space sampler). Jobs read the cache a batch at a time: it does not count."""
    _, row_bytes = cache_rows(images_path)
    held = row_bytes * (batch_size * BATCH_BYTES_PER_IMAGE_BYTE + held_rows)
    return int(base_mb + held / 2**20)


def training_memory(base_mb: int, checkpoint: str, batch_size):
    """A training rule's ``mem_mb``, as a function of its job: ``data_memory_mb`` of one batch
    (``batch_size``: a number, or a function of the job's wildcards), doubled on retries as
    ``host_memory_mb`` says (``checkpoint``: the rule's pattern)."""
    return lambda wildcards, input, attempt: host_memory_mb(
        data_memory_mb(
            input.images, base_mb, batch_size(wildcards) if callable(batch_size) else batch_size
        ),
        attempt,
        checkpoint.format(**dict(wildcards.items())),
    )


def oversample_memory_mb(
    images_path, split_path, method_id: str, latent_dim: int | None, sampler: dict, base_mb: int
) -> int:
    """oversample's ``mem_mb``: ``base_mb`` and ``budget.oversample_held_bytes`` of the split's
    training pool (a fold's fit set is smaller) raised to ``sampler``'s target; ``latent_dim``:
    the autoencoder's setting (a latent method's codes)."""
    _, channels, height, width = cache_shape(images_path)
    labels, _ = load_labels(images_path)
    with np.load(split_path) as split:
        counts = np.bincount(labels[split["train"]]).tolist()
    added = sum(balanced_counts({"sampler": sampler}, counts)) - sum(counts)
    synthetic = added * sampler["synthetic_share"]
    row = channels * height * width
    space = sampler_width(parse_method(method_id), row, latent_size(latent_dim, channels))
    held = oversample_held_bytes(row, sum(counts), synthetic, space)
    return int(base_mb + held / 2**20)


def machine_memory_mb() -> int | None:
    """The memory this job may use: its cgroup's limit (SLURM's grant, a container's) where one
    is set, else the machine's."""
    limit = Path("/sys/fs/cgroup/memory.max")
    if limit.is_file() and limit.read_text().strip().isdigit():
        return int(limit.read_text()) // 2**20
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2**20
    except (ValueError, OSError):
        return None


# what lowers each rule's memory, for the message of a job that would not fit
MEMORY_SETTINGS = {
    "train_autoencoder": "'autoencoder.batch_size' or the dataset's 'image_size'",
    "train_classifier": "'classifier.batch_size' or the dataset's 'image_size'",
    "oversample": "the dataset's 'image_size' or 'imbalance' counts",
}


def refuse_unfit(snakemake) -> None:
    """A job whose ``mem_mb`` exceeds what this machine gives it stops before it starts."""
    need, have = getattr(snakemake.resources, "mem_mb", None), machine_memory_mb()
    if not need or not have or need <= have:
        return
    rule = snakemake.rule
    lower = MEMORY_SETTINGS.get(rule, "the dataset's 'image_size'")
    raise MemoryError(
        f"{rule} needs about {need} MB of memory (mem_mb, from the images' size and the batch "
        f"size) but this machine gives it {have} MB. Lower {lower}, or run it on a larger "
        "machine (profiles/slurm)."
    )


# The lock on this job's GPU slot: held until the process exits, which releases it.
_gpu_slot = None


def gpu_lock_dir() -> Path:
    """This user's folder of GPU slot locks, ``<temp folder>/latentbalance-<uid>``, made private.
    Not the shared temp folder itself: where ``fs.protected_regular`` is set (most Linux systems),
    opening with O_CREAT a lock file that another user made there is denied."""
    folder = Path(tempfile.gettempdir(), f"latentbalance-{os.getuid()}")
    folder.mkdir(mode=0o700, exist_ok=True)
    if folder.lstat().st_uid != os.getuid():  # made by someone else, to share our locks
        raise PermissionError(
            f"{folder} belongs to another user: remove it, or set TMPDIR to a folder of yours"
        )
    return folder


def claim_gpu(cards: list[str], lock_dir: str | Path) -> tuple[str, int]:
    """The first free slot among ``cards`` (CUDA_VISIBLE_DEVICES entries), locked with flock:
    the first jobs get a card each, further ones share them evenly. Returns the card and the lock's
    file descriptor; closing it (or the job's exit) frees the slot."""
    for depth in itertools.count():
        for card in cards:
            name = re.sub(r"[^A-Za-z0-9_-]", "_", card) + (f"-{depth}" if depth else "")
            lock = Path(lock_dir, f"latentbalance-gpu-{name}.lock")
            fd = os.open(lock, os.O_RDONLY | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            return card, fd
    raise AssertionError("unreachable")


def visible_cards() -> list[str]:
    """The cards this job may use: CUDA_VISIBLE_DEVICES's entries when set (by SLURM, or the
    user), else every GPU the driver shows, counted through NVML: initialising CUDA to count them
    would fix the visible devices before this job picks its own. Empty, without importing
    torch, where the NVIDIA driver lists no GPU (in /proc/driver/nvidia/gpus, which WSL lacks)."""
    if "CUDA_VISIBLE_DEVICES" in os.environ:
        entries = [e.strip() for e in os.environ["CUDA_VISIBLE_DEVICES"].split(",")]
        # CUDA stops at the first invalid entry ("-1" hides every GPU)
        return list(itertools.takewhile(lambda e: e and not e.startswith("-"), entries))
    listed = driver_gpus()
    if not listed:
        return []
    import torch

    count = getattr(torch.cuda, "_device_count_nvml", lambda: -1)()
    if count < 0:  # no NVML: the driver's own list
        count = len(listed)
    return [str(card) for card in range(count)]


def one_job_per_card(workflow) -> int | None:
    """Set Snakemake's ``gpu`` resource, as ``--resources gpu=N`` would, to the number of visible
    cards, where the user set none: Snakemake counts only a resource it is given, so every job
    that asks a GPU would otherwise start at once. In the process that schedules, not in a job's.
    (A cluster's scheduler grants the cards: profiles/slurm sets the resource, so the submit
    host's own cards, where it has any, do not count.) Says so on the console. Returns the number
    set, or None."""
    resources = workflow.global_resources
    if not workflow.is_main_process or "gpu" in resources:
        return None
    cards = visible_cards()
    if not cards:
        return None
    resources["gpu"] = len(cards)
    print(
        f"GPU jobs: one per visible card at a time ({len(cards)}); --resources gpu=N runs N",
        file=sys.stderr,
    )
    return len(cards)


def granted_gpus(snakemake) -> int:
    """The GPUs the job's resources ask for (``gpu``; 0 when the rule asks none)."""
    return int(getattr(snakemake.resources, "gpu", 0) or 0)


def assign_gpu(snakemake, lock_dir: str | Path | None = None) -> tuple[str, int] | None:
    """Give a job that asks for a GPU (``resources.gpu``) a card of its own where several are
    visible: Snakemake counts `--resources gpu=N` but never says which card, so without this every
    job would run on the first. Sets CUDA_VISIBLE_DEVICES to the card (torch's import does not
    initialise CUDA; this runs before anything does). Where one card is visible, e.g. the one
    SLURM granted, nothing changes. Returns the card and its lock, or None."""
    if granted_gpus(snakemake) < 1:
        return None
    cards = visible_cards()
    if len(cards) < 2:
        return None
    try:
        card, fd = claim_gpu(cards, lock_dir or gpu_lock_dir())
    except OSError as error:
        log.warning("no GPU slot (%s): this job sees all of %s", error, ",".join(cards))
        return None
    os.environ["CUDA_VISIBLE_DEVICES"] = card
    log.info("this job runs on GPU %s of %s", card, ",".join(cards))
    return card, fd


def start(snakemake, recipe=None) -> dict:
    """Send stdout, stderr (tqdm, tracebacks) and logging to ``log[0]``; set torch's threads.

    Returns the rule's params as keyword arguments for the stage function: the config block in
    ``params.recipe`` as a ``recipe`` object (a class of ``recipes``), ``params.compute`` as a
    ``Compute``.
    """
    # The interpreter's last garbage collection walks every object left by torch, torchvision,
    # scikit-learn and matplotlib: 2-4 s of each job's exit. Frozen objects are skipped by it;
    # nothing is left to collect that matters once the outputs are written and closed.
    atexit.register(gc.freeze)
    if snakemake.log:
        stream = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job
        sys.stdout = sys.stderr = stream
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    refuse_unfit(snakemake)
    global _gpu_slot
    _gpu_slot = assign_gpu(snakemake) or _gpu_slot
    if "torch" in sys.modules:  # only steps that train or run networks import torch
        from .training.runtime import use_threads

        use_threads(snakemake.threads)
    params = dict(snakemake.params.items())
    if recipe is not None:
        params["recipe"] = recipe.from_config(params["recipe"])
    if "compute" in params:
        params["compute"] = Compute.from_config(params["compute"])
        from .training.runtime import (
            prepare_job,  # torch: every job with a compute block has it loaded
        )

        prepare_job(params["compute"], gpu_granted=granted_gpus(snakemake) >= 1)
    return params


def named(files) -> dict:
    """A rule's named inputs or outputs: name -> path (or list of paths, for a list)."""
    return {
        name: list(value) if isinstance(value, list) else value for name, value in files.items()
    }


def inputs(snakemake) -> dict:
    """The rule's named inputs: name -> path (or list of paths, for a list input)."""
    return named(snakemake.input)


def outputs(snakemake) -> dict:
    """The rule's named outputs: name -> path (or list of paths, for a list output)."""
    return named(snakemake.output)
