"""Resumable training: the whole training state saved at the end of an epoch, every few minutes
and when training ends, keyed on the job and on the device that computes it."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import asdict, dataclass, is_dataclass
from pathlib import Path

import numpy as np
import torch

from ..io import atomic_path

log = logging.getLogger(__name__)

# What a checkpoint holds, raised whenever that changes (the loop's state was keyed on the
# validation loss, now on the validation score): an older checkpoint is ignored, never misread.
CHECKPOINT_FORMAT = 2


def job_fingerprint(settings: dict, *arrays) -> str:
    """A digest of a training job's settings and training data, so that a resume checkpoint is
    only ever used by the job that wrote it. Recipes (dataclasses) count by their fields."""

    def plain(value):
        return asdict(value) if is_dataclass(value) else str(value)

    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=plain).encode())
    for array in arrays:
        # ImageRows (the cache's rows) are read a chunk at a time: the same bytes in order
        for chunk in array.chunks() if hasattr(array, "chunks") else [array]:
            digest.update(np.ascontiguousarray(chunk).tobytes())
    return digest.hexdigest()


def cuda_card(device: torch.device) -> str:
    """A CUDA card's name and compute capability, e.g. ``NVIDIA H100 80GB HBM3 sm_90``."""
    major, minor = torch.cuda.get_device_capability(device)
    return f"{torch.cuda.get_device_name(device)} sm_{major}{minor}"


def computed_on(precision, card: str | None = None) -> str:
    """What a job computes with, as its checkpoint is keyed: the device type, on CUDA the card
    (``card``, else ``cuda_card`` of the device), and the precision in effect, e.g.
    ``cuda/NVIDIA H100 80GB HBM3 sm_90/bf16`` or ``cpu/fp32``."""
    device = precision.device
    if device.type != "cuda":
        return f"{device.type}/{precision.name}"
    return f"cuda/{card or cuda_card(device)}/{precision.name}"


def job_checkpoint(
    path, settings: dict, compute, precision, *arrays, card: str | None = None
) -> EpochCheckpoint:
    """A training job's checkpoint, keyed on its settings, its training data and what it computes
    with: the ``compute`` settings (a ``recipes.Compute``) but the resolved device, card and
    precision (``computed_on``), never the requested ``auto``. Weights, Adam's moments, their
    memory layout and the kernels that produced them differ between them, so a job resumed on
    another kind of node or card starts anew instead of pairing state from one with the other.
    It saves every ``compute.checkpoint_minutes``, which is no part of the key."""
    ran_on = computed_on(precision, card)
    not_keyed = ("device", "precision", "checkpoint_minutes")
    beyond_device = {k: v for k, v in compute.as_dict().items() if k not in not_keyed}
    key = {**settings, "compute": beyond_device, "ran_on": ran_on}
    return EpochCheckpoint(path, job_fingerprint(key, *arrays), ran_on, compute.checkpoint_minutes)


class EpochCheckpoint:
    """The whole training state at the end of an epoch, at a path that is not a Snakemake output,
    so that a job killed mid-training (node failure, SIGKILL, time limit) resumes after the last
    saved epoch when rerun, and ends with exactly the weights an uninterrupted run would have.
    The loop saves when ``every_minutes`` have passed since the last save (or since this object
    was made; 0: after every epoch), and when training ends.

    ``fingerprint`` identifies the job's settings and data: a checkpoint left by different settings
    is ignored, never resumed; ``ran_on`` (``computed_on``) names what it was computed with, for
    the log. The file is removed once the job's outputs are written.
    """

    def __init__(
        self, path: str | Path, fingerprint: str, ran_on: str = "", every_minutes: float = 0.0
    ):
        self.path, self.fingerprint, self.ran_on = Path(path), fingerprint, ran_on
        self.every_s = 60.0 * every_minutes
        self.saved_at = time.monotonic()

    def due(self) -> bool:
        """Whether ``every_minutes`` have passed since the last save."""
        return time.monotonic() - self.saved_at >= self.every_s

    def restore(self) -> dict | None:
        if not self.path.exists():
            return None
        try:
            # weights_only: loading a checkpoint cannot execute code
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:  # truncated by a kill during the write, or not ours
            log.warning("ignoring unreadable checkpoint %s (%s); starting anew", self.path, error)
            return None
        if state.get("format") != CHECKPOINT_FORMAT:
            log.warning(
                "ignoring checkpoint %s: written by an older version of the training loop "
                "(format %s, this one reads %d); starting anew",
                self.path,
                state.get("format", 1),
                CHECKPOINT_FORMAT,
            )
            return None
        if state.get("fingerprint") != self.fingerprint:
            made_on = state.get("ran_on", "")
            if made_on != self.ran_on:
                log.warning(
                    "ignoring checkpoint %s: it was made on %s and this job runs on %s; "
                    "starting anew",
                    self.path,
                    made_on or "an unrecorded device",
                    self.ran_on,
                )
            else:
                log.warning("ignoring checkpoint %s: it was made with other settings", self.path)
            return None
        log.info("resuming from checkpoint %s after epoch %d", self.path, state["epoch"])
        return state

    def save(self, **state) -> None:
        with atomic_path(self.path) as tmp:
            torch.save(
                {
                    "format": CHECKPOINT_FORMAT,
                    "fingerprint": self.fingerprint,
                    "ran_on": self.ran_on,
                    **state,
                },
                tmp,
            )
        self.saved_at = time.monotonic()

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def rng_state(generator: torch.Generator) -> dict:
    state = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    # only a job computing on CUDA has started it; reading the CUDA states would start it (and
    # take GPU memory) in a CPU job too
    if torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(generator: torch.Generator, state: dict) -> None:
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        # one state per GPU the saving job saw; a job resumed where fewer or more are visible
        # restores those both have (a job computes on the first)
        saved, visible = len(state["cuda"]), torch.cuda.device_count()
        if saved != visible:
            log.info("restoring the RNG state of %d of %d saved GPUs", min(saved, visible), saved)
        for index, cuda_state in enumerate(state["cuda"][:visible]):
            torch.cuda.set_rng_state(cuda_state, index)


@dataclass
class TrainingState:
    """What a fit changes as it trains, all of which a checkpoint saves: the model, its optimizer,
    gradient scaler and learning-rate schedule (stepped per batch when ``per_step``, else per
    epoch), and the generator of the batch order."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator
    scaler: torch.amp.GradScaler
    scheduler: torch.optim.lr_scheduler.LRScheduler | None = None
    per_step: bool = False


def resume_training(checkpoint: EpochCheckpoint | None, state: TrainingState):
    """Load a matching checkpoint into ``state``; return (epochs done, the loop's own state)."""
    saved = checkpoint.restore() if checkpoint else None
    if saved is None:
        return 0, {}
    state.model.load_state_dict(saved["model"])
    state.optimizer.load_state_dict(saved["optimizer"])
    if state.scheduler is not None:
        state.scheduler.load_state_dict(saved["scheduler"])
    set_rng_state(state.generator, saved["rng"])
    return saved["epoch"], saved["loop"]


def save_progress(checkpoint: EpochCheckpoint, epoch: int, state: TrainingState, loop: dict):
    """Save the training state after ``epoch``, with the loop's own (``loop``)."""
    checkpoint.save(
        epoch=epoch,
        model=state.model.state_dict(),
        optimizer=state.optimizer.state_dict(),
        scheduler=state.scheduler.state_dict() if state.scheduler is not None else None,
        rng=rng_state(state.generator),
        loop=loop,
    )
