"""Fitting networks: one epoch loop (``run_epochs``) shared by the autoencoder and the classifier.

Each fit sets up its optimizer and schedule, says what one training step computes and what
validation measures, and hands both to the loop. The loop resumes from a checkpoint, shuffles the
batches, steps the optimizer, records one history row per epoch, keeps the weights of the lowest
validation loss, saves its progress and stops early when patience runs out.

The loop waits for the device once per epoch: the recorded sums stay on the device as float64
tensors, read with one ``.tolist()`` when the epoch ends (a ``.item()`` per step would stall a GPU
until each step finished). float64 sums in the same order as Python floats give the same history.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import torch
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..nets.autoencoders import autoencoder_losses, deepsmote_penalty
from ..rebalance.losses import MethodLoss
from ..settings.recipes import AutoencoderRecipe, ClassifierRecipe
from .augmentation import augmentation, batch_mixing
from .checkpoint import EpochCheckpoint, resume_training, save_progress
from .runtime import Precision
from .tensors import run_in_batches, training_batches

# share of a one-cycle schedule's steps that warm the learning rate up to its peak
ONECYCLE_WARMUP = 0.3


def run_epochs(
    model,
    optimizer,
    generator: torch.Generator,
    *,
    n_items: int,
    batch_size: int,
    epochs: int,
    step: Callable,
    validate: Callable,
    scaler: torch.amp.GradScaler,
    scheduler=None,
    per_step: bool = False,
    patience: int | None = None,
    counts_from: int = 0,
    record_lr: bool = False,
    checkpoint: EpochCheckpoint | None = None,
    desc: str = "training",
):
    """Train ``model`` for ``epochs``, resuming after the last epoch ``checkpoint`` saved.

    ``step(positions, epoch)`` computes one batch: it returns the loss to minimise and the
    batch's sums of the quantities to record as tensors (``{"train_loss": loss.detach() * n}``);
    their epoch means go into the history. ``scaler`` scales the loss for fp16 (a disabled one
    passes everything through unchanged). ``validate(train_means)`` returns the epoch's
    validation loss, which picks the best weights, and the columns it adds to the history.
    ``scheduler`` steps per batch when ``per_step``, else per epoch. With ``patience``, training
    stops after that many epochs past ``counts_from`` without a lower validation loss. The best
    weights are restored at the end.

    Returns the model in evaluation mode and the history (one dict per epoch)."""
    done, loop = resume_training(checkpoint, model, optimizer, scheduler, generator)
    history = loop.get("history", [])
    best_loss, best_state = loop.get("best_loss", float("inf")), loop.get("best_state")
    stale = loop.get("stale", 0)
    if "scaler" in loop:
        scaler.load_state_dict(loop["scaler"])
    if patience is not None and stale >= patience:  # saved by the epoch that stopped early
        done = epochs
    progress = tqdm(
        range(done + 1, epochs + 1), desc=desc, unit="epoch", initial=done, total=epochs
    )
    for epoch in progress:
        model.train()
        epoch_lr = optimizer.param_groups[0]["lr"]
        sums, seen = {}, 0
        for index in training_batches(n_items, batch_size, generator):
            loss, recorded = step(index, epoch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if per_step:
                scheduler.step()
            for name, value in recorded.items():
                value = value.detach().double()
                sums[name] = sums[name] + value if name in sums else value
            seen += len(index)
        if scheduler is not None and not per_step:
            scheduler.step()
        model.eval()
        # the epoch's one wait for the device
        totals = torch.stack(list(sums.values())).tolist() if sums else []
        means = {name: total / seen for name, total in zip(sums, totals, strict=True)}
        val_loss, val_columns = validate(means)
        history.append(
            {"epoch": epoch, **({"lr": epoch_lr} if record_lr else {}), **means, **val_columns}
        )
        progress.set_postfix({name: f"{value:.4f}" for name, value in val_columns.items()})
        if val_loss < best_loss:
            best_loss, best_state, stale = val_loss, copy.deepcopy(model.state_dict()), 0
        elif epoch > counts_from:
            stale += 1
        loop = {
            "history": history,
            "best_loss": best_loss,
            "best_state": best_state,
            "stale": stale,
        }
        if scaler.is_enabled():
            loop["scaler"] = scaler.state_dict()
        save_progress(checkpoint, epoch, model, optimizer, scheduler, generator, loop)
        if patience is not None and stale >= patience:
            tqdm.write(f"{desc}: early stop after epoch {epoch} (no improvement in {patience})")
            break
    model.load_state_dict(best_state)
    return model.eval(), history


def fit_autoencoder(
    model,
    images: torch.Tensor,
    labels: torch.Tensor,
    val_images: torch.Tensor,
    recipe: AutoencoderRecipe,
    *,
    penalty: bool,
    generator: torch.Generator,
    device,
    precision: Precision,
    checkpoint: EpochCheckpoint | None = None,
    desc: str = "autoencoder",
):
    """Adam on the autoencoder's loss terms (plus DeepSMOTE's penalty, ``recipe.penalty_kind`` at
    ``recipe.penalty_weight``, when ``penalty``); keeps the weights with the lowest held-out
    reconstruction MSE. The history has each training term's mean and the held-out MSE."""
    model = precision.prepare(model.to(device))
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr, fused=True)
    # the penalty draws one class per step, uniformly, among classes with at least two images
    members = [torch.nonzero(labels == c).flatten() for c in torch.unique(labels)]
    members = [m for m in members if len(m) >= 2]

    def step(index, _epoch):
        batch = precision.prepare(images[index].to(device))
        with precision.autocast():
            terms = autoencoder_losses(
                model, batch, kl_weight=recipe.kl_weight, mmd_weight=recipe.mmd_weight
            )
            if penalty:
                pick = members[torch.randint(len(members), (1,), generator=generator)]
                chosen = pick[torch.randperm(len(pick), generator=generator)[: recipe.batch_size]]
                class_batch = precision.prepare(images[chosen].to(device))
                terms["penalty"] = recipe.penalty_weight * deepsmote_penalty(
                    model, class_batch, recipe.penalty_kind
                )
        loss = sum(terms.values())
        n = len(index)
        recorded = {f"train_{name}": value.detach().double() * n for name, value in terms.items()}
        return loss, recorded | {"train_loss": loss.detach().double() * n}

    def validate(train):
        if not len(val_images):
            return train["train_recon"], {"val_mse": train["train_recon"]}
        recon = run_in_batches(model, val_images, recipe.batch_size, device, precision)
        val_mse = F.mse_loss(recon, val_images).item()
        return val_mse, {"val_mse": val_mse}

    return run_epochs(
        model,
        optimizer,
        generator,
        n_items=len(images),
        batch_size=recipe.batch_size,
        epochs=recipe.epochs,
        step=step,
        validate=validate,
        scaler=precision.grad_scaler(),
        checkpoint=checkpoint,
        desc=desc,
    )


def make_optimizer(name: str, parameters, lr: float, weight_decay: float):
    """``adam`` (fused: one kernel for all parameters, faster on small batches) or ``sgd``
    (momentum 0.9, Nesterov)."""
    if name == "adam":
        return torch.optim.Adam(parameters, lr=lr, weight_decay=weight_decay, fused=True)
    return torch.optim.SGD(
        parameters, lr=lr, momentum=0.9, weight_decay=weight_decay, nesterov=True
    )


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
    return None, False


def epochs_before_patience(schedule: str, epochs: int) -> int:
    """Epochs that do not count towards early stopping's patience: all of a one-cycle schedule's.
    Its length is its budget: it converges as the rate anneals to zero at the last step, so
    stopping it mid-anneal keeps weights of a high learning rate. With one-cycle, early stopping
    only restores the best epoch."""
    return epochs if schedule == "onecycle" else 0


def fit_classifier(
    model,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    recipe: ClassifierRecipe,
    *,
    n_classes: int,
    generator: torch.Generator,
    device,
    precision: Precision,
    checkpoint: EpochCheckpoint | None = None,
    desc: str = "classifier",
    loss: MethodLoss | None = None,
):
    """Training with the method's ``loss`` and early stopping on validation loss (the loss at
    its first epoch's setting, so that deferred re-weighting does not change what "lower" means);
    best weights restored.
    Each training batch is augmented on ``device`` (``recipe.augment``: crop and flip, then
    MixUp / CutMix, which blends its images and labels); training accuracy counts the unmixed
    label."""
    model = precision.prepare(model.to(device))
    optimizer = make_optimizer(recipe.optimizer, model.parameters(), recipe.lr, recipe.weight_decay)
    steps_per_epoch = sum(1 for _ in training_batches(len(x_train), recipe.batch_size, None))
    scheduler, per_step = learning_rate_schedule(
        optimizer, recipe.schedule, recipe.epochs, steps_per_epoch
    )
    augment = augmentation(
        recipe.augment.crop_padding, recipe.augment.flip, tuple(x_train.shape[-2:])
    )
    mix = batch_mixing(recipe.augment.mix, recipe.augment.mix_alpha, n_classes)
    loss = (loss or MethodLoss("none")).to(device)

    def step(index, epoch):
        batch = x_train[index].to(device)
        batch = precision.prepare(batch if augment is None else augment(batch))
        target = y_train[index].to(device)
        # soft targets when mixing: each row is the blend of the two labels
        fit_target = target
        if mix is not None:
            batch, fit_target = mix(batch, target)
        with precision.autocast():
            logits = model(batch).float()
        batch_loss = loss(logits, fit_target, epoch)
        correct = (logits.argmax(1) == target).sum()
        recorded = {"train_loss": batch_loss.detach().double() * len(index)}
        return batch_loss, recorded | {"train_accuracy": correct}

    def validate(_):
        val_logits = run_in_batches(model, x_val, recipe.batch_size, device, precision)
        val_loss = loss(val_logits.to(device), y_val.to(device), 1).item()
        val_accuracy = (val_logits.argmax(1) == y_val).float().mean().item()
        return val_loss, {"val_loss": val_loss, "val_accuracy": val_accuracy}

    return run_epochs(
        model,
        optimizer,
        generator,
        n_items=len(x_train),
        batch_size=recipe.batch_size,
        epochs=recipe.epochs,
        step=step,
        validate=validate,
        scaler=precision.grad_scaler(),
        scheduler=scheduler,
        per_step=per_step,
        patience=recipe.patience,
        counts_from=epochs_before_patience(recipe.schedule, recipe.epochs),
        record_lr=True,
        checkpoint=checkpoint,
        desc=desc,
    )
