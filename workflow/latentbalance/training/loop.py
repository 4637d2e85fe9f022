"""Fitting networks: one epoch loop shared by the autoencoder, the classifier and the heads, split
as torchvision's reference training script is: ``train_one_epoch`` trains one epoch, the fit's
``validate`` evaluates it, and ``run_epochs`` around them resumes from a checkpoint, records one
history row per epoch, keeps the weights of the best validation score in memory (ties: the later
epoch), saves its progress every few minutes and when training ends, and stops early when
patience runs out. Every classifier, whatever its method, is scored by its validation ACSA (the
metric the verdict ranks by), every autoencoder by its validation reconstruction error.

Each fit sets up what steps its weights (a ``checkpoint.TrainingState``: optimizer, schedule,
gradient scaler), says what one training step computes and what validation measures, and hands
them to the loop with its ``LoopSettings``.

The loop waits for the device once per epoch: the recorded sums stay on the device as float64
tensors, read with one ``.tolist()`` when the epoch ends (a ``.item()`` per step would stall a GPU
until each step finished). float64 sums in the same order as Python floats give the same history.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

import torch
from tqdm.auto import tqdm

from ..nets.autoencoders import autoencoder_losses, deepsmote_penalty
from ..rebalance.losses import MethodLoss
from ..settings.recipes import AutoencoderRecipe, ClassifierRecipe
from .augmentation import augmentation, method_mixing
from .checkpoint import EpochCheckpoint, TrainingState, resume_training, save_progress
from .runtime import Precision
from .tensors import device_rows, reconstruction_mse, run_in_batches, training_batches

# how often a training job's log (a file) gets a line of the epoch's progress: a day-long epoch
# writes a few thousand lines, not a line per step
LOG_PROGRESS_SECONDS = 20

# share of a one-cycle schedule's steps that warm the learning rate up to its peak
ONECYCLE_WARMUP = 0.3


@dataclass(frozen=True)
class LoopSettings:
    """How the loop runs a fit: ``epochs`` of the batches ``batches(generator)`` draws (the
    positions of the items in each). With ``patience``, training stops after that many epochs past
    ``counts_from`` without a lower validation loss. ``record_lr``: the history has each epoch's
    learning rate. ``desc`` names the fit in the progress bar."""

    epochs: int
    batches: Callable[[torch.Generator], Iterable[torch.Tensor]]
    patience: int | None = None
    counts_from: int = 0
    record_lr: bool = False
    desc: str = "training"


@dataclass(frozen=True)
class FitRun:
    """How one job runs a fit: ``generator`` draws its random numbers (the batch order first),
    ``precision`` is what it computes in, on ``precision.device``; it resumes from and saves its
    progress to ``checkpoint``; ``desc`` names it in the progress bar."""

    generator: torch.Generator
    precision: Precision
    checkpoint: EpochCheckpoint | None = None
    desc: str = "training"


def shuffled(n_items: int, batch_size: int) -> Callable:
    """Every item once per epoch, in shuffled batches of ``batch_size`` (without a last batch of
    one item: BatchNorm cannot train on a single image)."""
    return partial(training_batches, n_items, batch_size)


@dataclass
class Progress:
    """The loop's own state, saved with each checkpoint: the history, the best validation score
    and the epoch and weights that reached it (a copy in memory, on the device, between
    checkpoints), and the epochs since it last rose (``stale``)."""

    history: list = field(default_factory=list)
    best_score: float = float("-inf")
    best_epoch: int = 0
    best_state: dict | None = None
    stale: int = 0

    def update(self, model, epoch: int, score: float, counts_from: int) -> None:
        """A score as high as the best moves the choice to this later epoch (the rule is the same
        for every method); only a higher one resets patience."""
        if score >= self.best_score:
            improved = score > self.best_score
            self.best_score, self.best_epoch = score, epoch
            self.best_state = copy.deepcopy(model.state_dict())
            if improved:
                self.stale = 0
                return
        if epoch > counts_from:
            self.stale += 1

    def saved(self, scaler: torch.amp.GradScaler) -> dict:
        loop = {
            "history": self.history,
            "best_score": self.best_score,
            "best_epoch": self.best_epoch,
            "best_state": self.best_state,
            "stale": self.stale,
        }
        if scaler.is_enabled():
            loop["scaler"] = scaler.state_dict()
        return loop


def epoch_bar(batches: list, epoch: int, seconds: float | None = None) -> tqdm:
    """The progress of one epoch: images done of all, images/s, the time left, and batches done.

    On a terminal, a bar under the fit's epoch bar that clears when the epoch ends. In a job's
    log (a file) a line every ``seconds`` (``LOG_PROGRESS_SECONDS``), and one per epoch left at its
    end with its time and speed; at the epoch bar's position: a line below it would write cursor
    moves into the file."""
    stream = sys.stderr
    terminal = getattr(stream, "isatty", lambda: False)()
    seconds = seconds or (0.1 if terminal else LOG_PROGRESS_SECONDS)
    return tqdm(
        total=sum(len(index) for index in batches),
        desc=f"epoch {epoch}",
        unit=" img",
        file=stream,
        leave=not terminal,
        position=None if terminal else 0,
        mininterval=seconds,
        maxinterval=max(seconds, 10),
    )


def train_one_epoch(
    state: TrainingState, step: Callable, epoch: int, batches: Iterable, progress_seconds=None
) -> dict:
    """One epoch of optimizer steps over ``batches``; the epoch means of what ``step`` records.
    Its progress goes to stderr (``epoch_bar``, every ``progress_seconds`` in a log file)."""
    state.model.train()
    sums, seen = {}, 0
    # listed first, for the bar's total: the positions were drawn before the first step anyway
    batches = list(batches)
    with epoch_bar(batches, epoch, progress_seconds) as bar:
        for done, index in enumerate(batches, 1):
            loss, recorded = step(index, epoch)
            state.optimizer.zero_grad(set_to_none=True)
            state.scaler.scale(loss).backward()
            state.scaler.step(state.optimizer)
            state.scaler.update()
            if state.per_step:
                state.scheduler.step()
            for name, value in recorded.items():
                value = value.detach().double()
                sums[name] = sums[name] + value if name in sums else value
            seen += len(index)
            bar.set_postfix_str(f"batch {done}/{len(batches)}", refresh=False)
            bar.update(len(index))
    if state.scheduler is not None and not state.per_step:
        state.scheduler.step()
    state.model.eval()
    # the epoch's one wait for the device
    totals = torch.stack(list(sums.values())).tolist() if sums else []
    return {name: total / seen for name, total in zip(sums, totals, strict=True)}


def run_epochs(
    state: TrainingState,
    step: Callable,
    validate: Callable | None,
    settings: LoopSettings,
    checkpoint: EpochCheckpoint | None = None,
):
    """Train ``state.model`` for ``settings.epochs``, resuming after the last epoch
    ``checkpoint`` saved. The progress is saved when the checkpoint is due (its interval) and
    after the last epoch, early stop included.

    ``step(positions, epoch)`` computes one batch: it returns the loss to minimise and the
    batch's sums of the quantities to record as tensors (``{"train_loss": loss.detach() * n}``);
    their epoch means go into the history. ``validate(train_means)`` returns the epoch's
    validation score (higher is better), which picks the best weights, and the columns it adds
    to the history; the best weights are restored at the end, and the history's ``selected``
    column marks their epoch. Without ``validate`` (nothing held out) the fit ends with its last
    epoch's weights.

    Returns the model in evaluation mode and the history (one dict per epoch)."""
    done, loop = resume_training(checkpoint, state)
    progress = Progress(**{k: v for k, v in loop.items() if k != "scaler"})
    if "scaler" in loop:
        state.scaler.load_state_dict(loop["scaler"])
    if settings.patience is not None and progress.stale >= settings.patience:
        done = settings.epochs  # saved by the epoch that stopped early
    bar = tqdm(
        range(done + 1, settings.epochs + 1),
        desc=settings.desc,
        unit="epoch",
        initial=done,
        total=settings.epochs,
    )
    for epoch in bar:
        lr = {"lr": state.optimizer.param_groups[0]["lr"]} if settings.record_lr else {}
        means = train_one_epoch(state, step, epoch, settings.batches(state.generator))
        score, val_columns = validate(means) if validate else (None, {})
        progress.history.append({"epoch": epoch, **lr, **means, **val_columns})
        bar.set_postfix({name: f"{value:.4f}" for name, value in val_columns.items()})
        if validate:
            progress.update(state.model, epoch, score, settings.counts_from)
        stop = settings.patience is not None and progress.stale >= settings.patience
        if checkpoint is not None and (stop or epoch == settings.epochs or checkpoint.due()):
            save_progress(checkpoint, epoch, state, progress.saved(state.scaler))
        if stop:
            tqdm.write(
                f"{settings.desc}: early stop after epoch {epoch} "
                f"(no improvement in {settings.patience})"
            )
            break
    if validate:
        state.model.load_state_dict(progress.best_state)
    selected = progress.best_epoch if validate else progress.history[-1]["epoch"]
    history = [{**row, "selected": row["epoch"] == selected} for row in progress.history]
    return state.model.eval(), history


def fit_autoencoder(
    model,
    images,
    labels: torch.Tensor,
    val_images,
    recipe: AutoencoderRecipe,
    run: FitRun,
    *,
    penalty: bool,
):
    """Adam on the autoencoder's loss terms (plus DeepSMOTE's penalty, ``recipe.penalty_kind`` at
    ``recipe.penalty_weight``, when ``penalty``); keeps the weights with the lowest held-out
    reconstruction MSE (score: its negative). The history has each training term's mean and the
    held-out MSE."""
    generator, precision, device = run.generator, run.precision, run.precision.device
    model = precision.prepare(model.to(device))
    optimizer = torch.optim.Adam(model.parameters(), lr=recipe.lr, fused=True)
    # the penalty draws one class per step, uniformly, among classes with at least two images
    members = [torch.nonzero(labels == c).flatten() for c in torch.unique(labels)]
    members = [m for m in members if len(m) >= 2]
    (rows,) = device_rows(device, images)

    def step(index, _epoch):
        batch = precision.prepare(rows[index])
        with precision.autocast():
            terms = autoencoder_losses(
                model, batch, kl_weight=recipe.kl_weight, mmd_weight=recipe.mmd_weight
            )
            if penalty:
                pick = members[torch.randint(len(members), (1,), generator=generator)]
                chosen = pick[torch.randperm(len(pick), generator=generator)[: recipe.batch_size]]
                class_batch = precision.prepare(rows[chosen])
                terms["penalty"] = recipe.penalty_weight * deepsmote_penalty(
                    model, class_batch, recipe.penalty_kind
                )
        loss = sum(terms.values())
        n = len(index)
        recorded = {f"train_{name}": value.detach().double() * n for name, value in terms.items()}
        return loss, recorded | {"train_loss": loss.detach().double() * n}

    def validate(train):
        if not len(val_images):
            return -train["train_recon"], {"val_mse": train["train_recon"]}
        val_mse = reconstruction_mse(model, val_images, recipe.batch_size, device, precision)
        return -val_mse, {"val_mse": val_mse}

    state = TrainingState(model, optimizer, generator, precision.grad_scaler())
    settings = LoopSettings(recipe.epochs, shuffled(len(images), recipe.batch_size), desc=run.desc)
    return run_epochs(state, step, validate, settings, run.checkpoint)


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


def classifier_state(model, recipe: ClassifierRecipe, n_items: int, generator, precision):
    """A classifier's ``TrainingState``: its optimizer and learning-rate schedule as ``recipe``
    asks, over ``n_items`` training images, and the gradient scaler of its ``precision``."""
    optimizer = make_optimizer(recipe.optimizer, model.parameters(), recipe.lr, recipe.weight_decay)
    steps_per_epoch = sum(1 for _ in training_batches(n_items, recipe.batch_size, None))
    scheduler, per_step = learning_rate_schedule(
        optimizer, recipe.schedule, recipe.epochs, steps_per_epoch
    )
    return TrainingState(model, optimizer, generator, precision.grad_scaler(), scheduler, per_step)


def class_average_accuracy(correct: torch.Tensor, labels: torch.Tensor, n_classes: int):
    """ACSA as a tensor: the mean over the classes present in ``labels`` of the share of their
    images classified right (``correct``: 1 or 0 per image)."""
    per_class = torch.bincount(labels, weights=correct, minlength=n_classes)
    present = torch.bincount(labels, minlength=n_classes)
    return (per_class[present > 0] / present[present > 0]).mean().float()


def fit_classifier(
    model,
    x_train: torch.Tensor,
    y_train: torch.Tensor,
    x_val: torch.Tensor,
    y_val: torch.Tensor,
    recipe: ClassifierRecipe,
    run: FitRun,
    *,
    n_classes: int,
    loss: MethodLoss | None = None,
):
    """Training with the method's ``loss``; the weights of the epoch with the highest validation
    ACSA (mean per-class recall, the verdict's metric; ties: the later epoch) are restored, and
    patience counts epochs without a higher one. The history also has the validation loss (at the
    loss's first-epoch setting) and accuracy. Each training batch is augmented on the device
    (``recipe.augment``: crop and flip, then the method's mixing or ``recipe.augment.mix``, which
    blends images and labels); training accuracy counts the unmixed label."""
    precision, device = run.precision, run.precision.device
    model = precision.prepare(model.to(device))
    state = classifier_state(model, recipe, len(x_train), run.generator, precision)
    augment = augmentation(
        recipe.augment.crop_padding, recipe.augment.flip, tuple(x_train.shape[-2:])
    )
    loss = (loss or MethodLoss("none")).to(device)
    mix = method_mixing(loss, recipe.augment.mix, recipe.augment.mix_alpha, n_classes)
    x_rows, y_rows = device_rows(device, x_train, y_train)

    def step(index, epoch):
        batch, target = x_rows[index], y_rows[index]
        batch = precision.prepare(batch if augment is None else augment(batch))
        fit_target = target  # soft targets when mixing: each row blends two labels
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
        val_loss = loss(val_logits.to(device), y_val.to(device), 1).cpu()
        correct = (val_logits.argmax(1) == y_val).float()
        acsa = class_average_accuracy(correct, y_val, n_classes)
        # one read of the three
        val_loss, accuracy, acsa = torch.stack([val_loss, correct.mean(), acsa]).tolist()
        return acsa, {"val_loss": val_loss, "val_accuracy": accuracy, "val_acsa": acsa}

    settings = LoopSettings(
        recipe.epochs,
        shuffled(len(x_train), recipe.batch_size),
        patience=recipe.patience,
        counts_from=epochs_before_patience(recipe.schedule, recipe.epochs),
        record_lr=True,
        desc=run.desc,
    )
    return run_epochs(state, step, validate, settings, run.checkpoint)
