"""Training loops for the autoencoder and the classifier.

Batches are sliced from tensors already in memory (no per-item Dataset on the hot path). Mixed
precision is used where the hardware has it: bfloat16 autocast + channels_last on CPUs with native
bf16 (AVX-512 BF16 / AMX), AMP on CUDA; fp32 elsewhere (channels_last too on a CPU).
"""

from __future__ import annotations

import copy
import logging
import random
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from .autoencoders import autoencoder_losses, deepsmote_penalty
from .io import atomic_path

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a generator for batch order."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def select_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(
            "config asks for device 'cuda' but torch sees no GPU; "
            "set 'compute.device' to 'cpu' or 'auto'"
        )
    return torch.device(requested)


class Precision:
    """Autocast settings for a device: ``auto`` picks bf16 where it is native, else fp32."""

    def __init__(self, device: torch.device, requested: str = "auto"):
        self.device = device
        if requested == "auto":
            native = device.type == "cuda" or cpu_has_native_bf16()
            requested = "bf16" if native else "fp32"
        self.name = requested
        self.dtype = torch.bfloat16 if requested == "bf16" else None
        # on a CPU oneDNN's channels_last kernels are faster in fp32 as well (ResNet18 1.15-1.26x
        # on AVX2, the autoencoder level; benchmarks/RESULTS.md)
        self.channels_last = requested == "bf16" or device.type == "cpu"

    def autocast(self):
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def prepare(self, module_or_tensor):
        """Move a model or an image batch to channels_last (on a CPU, or in mixed precision)."""
        if not self.channels_last:
            return module_or_tensor
        if isinstance(module_or_tensor, torch.Tensor) and module_or_tensor.dim() != 4:
            return module_or_tensor
        return module_or_tensor.to(memory_format=torch.channels_last)


class EpochCheckpoint:
    """The whole training state, saved after every epoch at a path that is not a Snakemake output,
    so that a job killed mid-training (node failure, SIGKILL, time limit) resumes at the next epoch
    when rerun, and ends with exactly the weights an uninterrupted run would have.

    ``fingerprint`` identifies the job's settings and data: a checkpoint left by different settings
    is ignored, never resumed. The file is removed once the job's outputs are written.
    """

    def __init__(self, path: str | Path, fingerprint: str):
        self.path, self.fingerprint = Path(path), fingerprint

    def restore(self) -> dict | None:
        if not self.path.exists():
            return None
        try:
            # weights_only: loading a checkpoint cannot execute code
            state = torch.load(self.path, map_location="cpu", weights_only=True)
        except Exception as error:  # truncated by a kill during the write, or not ours
            log.warning("ignoring unreadable checkpoint %s (%s); starting anew", self.path, error)
            return None
        if state.get("fingerprint") != self.fingerprint:
            log.warning("ignoring checkpoint %s: it was made with other settings", self.path)
            return None
        log.info("resuming from checkpoint %s after epoch %d", self.path, state["epoch"])
        return state

    def save(self, **state) -> None:
        with atomic_path(self.path) as tmp:
            torch.save({"fingerprint": self.fingerprint, **state}, tmp)

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


def rng_state(generator: torch.Generator) -> dict:
    state = {"generator": generator.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(generator: torch.Generator, state: dict) -> None:
    generator.set_state(state["generator"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def resume_training(checkpoint: EpochCheckpoint | None, model, optimizer, scheduler, generator):
    """Load a matching checkpoint into the training objects; return (epochs done, loop state)."""
    state = checkpoint.restore() if checkpoint else None
    if state is None:
        return 0, {}
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    set_rng_state(generator, state["rng"])
    return state["epoch"], state["loop"]


def save_progress(checkpoint, epoch, model, optimizer, scheduler, generator, loop) -> None:
    if checkpoint is None:
        return
    checkpoint.save(
        epoch=epoch,
        model=model.state_dict(),
        optimizer=optimizer.state_dict(),
        scheduler=scheduler.state_dict() if scheduler is not None else None,
        rng=rng_state(generator),
        loop=loop,
    )


# recorded in every classifier spec, so that Stage 2 can check it feeds images the same way
INPUT_SCALING = "uint8 / 127.5 - 1"
# share of a one-cycle schedule's steps that warm the learning rate up to its peak
ONECYCLE_WARMUP = 0.3


def to_unit_range(images: np.ndarray) -> torch.Tensor:
    """uint8 images (N, C, H, W) -> float32 tensor in [-1, 1] (the decoder's Tanh range)."""
    return torch.from_numpy(np.ascontiguousarray(images)).float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> np.ndarray:
    return ((images.float() + 1.0) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()


def batches(n: int, batch_size: int, generator: torch.Generator | None):
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


def stratified_holdout(labels: np.ndarray, fraction: float, seed: int):
    """Per class, ``round(fraction * n)`` items go to validation, always leaving one for training.

    Returns (train_positions, validation_positions), sorted. No item is dropped.
    """
    rng = np.random.default_rng(seed)
    train, val = [], []
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        n_val = min(int(round(fraction * len(members))), len(members) - 1)
        val.append(members[:n_val])
        train.append(members[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


@torch.no_grad()
def run_in_batches(fn, inputs: torch.Tensor, batch_size: int, device, precision: Precision):
    outputs = []
    for index in batches(len(inputs), batch_size, None):
        batch = precision.prepare(inputs[index].to(device))
        with precision.autocast():
            outputs.append(fn(batch).float().cpu())
    return torch.cat(outputs)


def fit_autoencoder(
    model,
    images: torch.Tensor,
    labels: torch.Tensor,
    val_images: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    loss_weights: dict,
    penalty: dict | None,
    generator: torch.Generator,
    device,
    precision: Precision,
    checkpoint: EpochCheckpoint | None = None,
    desc: str = "autoencoder",
):
    """Adam on the autoencoder's loss terms (plus DeepSMOTE's penalty when ``penalty`` gives its
    ``kind`` and ``weight``); keeps the weights with the lowest held-out reconstruction MSE.

    The history has one row per epoch: each training term's mean and the held-out MSE.
    """
    model = precision.prepare(model.to(device))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
    # the penalty draws one class per step, uniformly, among classes with at least two images
    members = [torch.nonzero(labels == c).flatten() for c in torch.unique(labels)]
    members = [m for m in members if len(m) >= 2]
    done, loop = resume_training(checkpoint, model, optimizer, None, generator)
    history = loop.get("history", [])
    best_loss, best_state = loop.get("best_loss", float("inf")), loop.get("best_state")
    progress = tqdm(
        range(done + 1, epochs + 1), desc=desc, unit="epoch", initial=done, total=epochs
    )
    for epoch in progress:
        model.train()
        sums, seen = {}, 0
        for index in batches(len(images), batch_size, generator):
            if len(index) == 1:  # BatchNorm cannot train on a single image
                continue
            batch = precision.prepare(images[index].to(device))
            with precision.autocast():
                terms = autoencoder_losses(model, batch, **loss_weights)
                if penalty:
                    pick = members[torch.randint(len(members), (1,), generator=generator)]
                    chosen = pick[torch.randperm(len(pick), generator=generator)[:batch_size]]
                    class_batch = precision.prepare(images[chosen].to(device))
                    terms["penalty"] = penalty["weight"] * deepsmote_penalty(
                        model, class_batch, penalty["kind"]
                    )
            loss = sum(terms.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for name, value in {**terms, "loss": loss}.items():
                sums[name] = sums.get(name, 0.0) + value.item() * len(index)
            seen += len(index)
        model.eval()
        train = {f"train_{name}": total / seen for name, total in sums.items()}
        if len(val_images):
            recon = run_in_batches(model, val_images, batch_size, device, precision)
            val_loss = F.mse_loss(recon, val_images).item()
        else:
            val_loss = train["train_recon"]
        history.append({"epoch": epoch, **train, "val_mse": val_loss})
        progress.set_postfix(loss=f"{train['train_loss']:.4f}", val_mse=f"{val_loss:.4f}")
        if val_loss < best_loss:
            best_loss, best_state = val_loss, copy.deepcopy(model.state_dict())
        loop = {"history": history, "best_loss": best_loss, "best_state": best_state}
        save_progress(checkpoint, epoch, model, optimizer, None, generator, loop)
    model.load_state_dict(best_state)
    return model.eval(), history


def learning_rate_schedule(optimizer, schedule: str, epochs: int, steps_per_epoch: int):
    """The schedule and whether it steps per batch: ``onecycle`` (per batch) warms up to ``lr``
    over the first 30 % of all steps and anneals to almost 0; the others step per epoch:
    ``cosine`` anneals to 0 over ``epochs``, ``step`` divides by 10 at 1/2 and 3/4 of them,
    ``constant`` keeps the rate."""
    if schedule == "onecycle":
        max_lr = [group["lr"] for group in optimizer.param_groups]
        total = epochs * steps_per_epoch
        return (
            torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr, total_steps=total, pct_start=ONECYCLE_WARMUP
            ),
            True,
        )
    if schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs), False
    if schedule == "step":
        milestones = [max(1, epochs // 2), max(1, 3 * epochs // 4)]
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=0.1), False
    if schedule == "constant":
        return None, False
    raise ValueError(f"unknown schedule {schedule!r}; choose constant, cosine, step or onecycle")


def epochs_before_patience(schedule: str, epochs: int) -> int:
    """Epochs that do not count towards early stopping's patience: all of a one-cycle schedule's.
    Its length is its budget, and it converges only as the rate anneals to zero at the last step:
    validation loss was lowest at epochs 37-39 of 40 in all nine FashionMNIST-LT runs. Patience
    counted from the start stopped `none` with CutMix at epoch 16 (lr 0.097), counted from half
    the peak (65 %) it stopped `smote-ae` at epoch 34 (lr 0.015) with the weights of epoch 29
    (lr 0.039) — both mid-anneal. With one-cycle, early stopping only restores the best epoch."""
    return epochs if schedule == "onecycle" else 0


def augmentation(crop_padding: int, flip: bool, image_size):
    """Per-image random translation (pad by ``crop_padding`` pixels, replicating the border, and
    crop back) and horizontal flip with torchvision's transforms; None when both are off. They
    draw from torch's global generator, which the seed sets and checkpoints save."""
    if not crop_padding and not flip:
        return None
    from torchvision.transforms import v2

    steps = []
    if crop_padding:
        steps.append(v2.RandomCrop(list(image_size), padding=crop_padding, padding_mode="edge"))
    if flip:
        steps.append(v2.RandomHorizontalFlip())
    transform = v2.Compose(steps)

    def augment(batch: torch.Tensor) -> torch.Tensor:
        return torch.stack([transform(image) for image in batch])

    return augment


def batch_mixing(kind: str, alpha: float, n_classes: int):
    """torchvision's MixUp / CutMix on whole training batches (``mixup_or_cutmix``: one of the two
    per batch, at random): returns ``mix(images, labels) -> (images, soft targets)``, or None for
    ``none``. Mixing draws from torch's global generator, like ``augmentation``."""
    if kind == "none":
        return None
    from torchvision.transforms import v2

    mixers = {"mixup": v2.MixUp, "cutmix": v2.CutMix}
    names = ["mixup", "cutmix"] if kind == "mixup_or_cutmix" else [kind]
    if not set(names) <= mixers.keys():
        raise ValueError(f"unknown mix {kind!r}; choose none, mixup, cutmix or mixup_or_cutmix")
    return v2.RandomChoice([mixers[name](alpha=alpha, num_classes=n_classes) for name in names])


def fit_classifier(
    model,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    optimizer_name: str,
    schedule: str,
    patience: int,
    class_weights: torch.Tensor | None,
    generator: torch.Generator,
    device,
    precision: Precision,
    augment=None,
    mix=None,
    checkpoint: EpochCheckpoint | None = None,
    desc: str = "classifier",
):
    """Cross-entropy training with early stopping on validation loss; best weights restored.
    ``augment`` (see ``augmentation``) transforms each training batch, then ``mix`` (see
    ``batch_mixing``) blends its images and labels; training accuracy counts the unmixed label."""
    model = precision.prepare(model.to(device))
    if optimizer_name == "adam":
        # fused: one kernel for all parameters, measurably faster on small batches
        optimizer = torch.optim.Adam(
            model.parameters(), lr=lr, weight_decay=weight_decay, fused=True
        )
    elif optimizer_name == "sgd":
        optimizer = torch.optim.SGD(
            model.parameters(), lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True
        )
    else:
        raise ValueError(f"unknown optimizer {optimizer_name!r}; choose adam or sgd")
    steps_per_epoch = sum(len(i) > 1 for i in batches(len(x_train), batch_size, None))
    scheduler, per_step = learning_rate_schedule(optimizer, schedule, epochs, steps_per_epoch)
    unsettled = epochs_before_patience(schedule, epochs)
    weights = class_weights.to(device) if class_weights is not None else None
    done, loop = resume_training(checkpoint, model, optimizer, scheduler, generator)
    history = loop.get("history", [])
    best_loss, best_state = loop.get("best_loss", float("inf")), loop.get("best_state")
    stale = loop.get("stale", 0)
    if stale >= patience:  # the checkpoint was saved by the epoch that stopped early
        done = epochs
    progress = tqdm(
        range(done + 1, epochs + 1), desc=desc, unit="epoch", initial=done, total=epochs
    )
    for epoch in progress:
        model.train()
        total, correct, seen = 0.0, 0, 0
        epoch_lr = optimizer.param_groups[0]["lr"]
        for index in batches(len(x_train), batch_size, generator):
            if len(index) == 1:  # BatchNorm cannot train on a single image
                continue
            batch = x_train[index] if augment is None else augment(x_train[index])
            batch = precision.prepare(batch.to(device))
            target = y_train[index].to(device)
            # soft targets when mixing: each row is the blend of the two labels
            fit_target = target
            if mix is not None:
                batch, fit_target = mix(batch, target)
            with precision.autocast():
                logits = model(batch).float()
            loss = F.cross_entropy(logits, fit_target, weight=weights)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if per_step:
                scheduler.step()
            total += loss.item() * len(index)
            correct += (logits.argmax(1) == target).sum().item()
            seen += len(index)
        if scheduler is not None and not per_step:
            scheduler.step()
        model.eval()
        val_logits = run_in_batches(model, x_val, batch_size, device, precision)
        val_loss = F.cross_entropy(
            val_logits, y_val, weight=weights.cpu() if weights is not None else None
        ).item()
        val_acc = (val_logits.argmax(1) == y_val).float().mean().item()
        history.append(
            {
                "epoch": epoch,
                "lr": epoch_lr,
                "train_loss": total / seen,
                "train_accuracy": correct / seen,
                "val_loss": val_loss,
                "val_accuracy": val_acc,
            }
        )
        progress.set_postfix(
            loss=f"{total / seen:.3f}", val_loss=f"{val_loss:.3f}", val_acc=f"{val_acc:.3f}"
        )
        if val_loss < best_loss:
            best_loss, best_state, stale = val_loss, copy.deepcopy(model.state_dict()), 0
        elif epoch > unsettled:
            stale += 1
        loop = {
            "history": history,
            "best_loss": best_loss,
            "best_state": best_state,
            "stale": stale,
        }
        save_progress(checkpoint, epoch, model, optimizer, scheduler, generator, loop)
        if stale >= patience:
            tqdm.write(f"{desc}: early stop after epoch {epoch} (no improvement in {patience})")
            break
    model.load_state_dict(best_state)
    return model.eval(), history


def predict_proba(
    model: nn.Module,
    images: torch.Tensor,
    batch_size: int,
    device,
    precision: Precision,
    test_time_flip: bool = False,
) -> np.ndarray:
    """Class probabilities; with ``test_time_flip``, the mean of those of each image and its
    horizontal mirror (for classifiers trained with random flips: an image and its mirror then
    get the same answer)."""
    model = precision.prepare(model.to(device)).eval()
    probabilities = torch.softmax(run_in_batches(model, images, batch_size, device, precision), 1)
    if test_time_flip:
        mirrored = run_in_batches(model, images.flip(-1), batch_size, device, precision)
        probabilities = (probabilities + torch.softmax(mirrored, 1)) / 2
    return probabilities.numpy()


def logit_adjusted(probabilities: np.ndarray, prior: np.ndarray, tau: float) -> np.ndarray:
    """Post-hoc logit adjustment (Menon et al., ICLR 2021): each class's probability divided by
    its training prior to the power ``tau``, renormalised. ``tau = 1`` is the decision that
    maximises balanced accuracy when the probabilities follow the training prior (it undoes
    the imbalance a method left); 0 leaves them as they are."""
    if tau == 0:
        return probabilities
    adjusted = probabilities / np.asarray(prior, dtype=np.float64) ** tau
    return (adjusted / adjusted.sum(1, keepdims=True)).astype(probabilities.dtype)
