"""The epoch loop shared by both fits: it resumes from its per-epoch checkpoint and ends where an
uninterrupted run ends, stops early, records each loss term; and the classifier's schedules."""

import re
import time

import numpy as np
import pytest
import torch

from latentbalance.nets.autoencoders import build_autoencoder
from latentbalance.nets.classifiers import build_resnet
from latentbalance.settings.recipes import AutoencoderRecipe, ClassifierRecipe
from latentbalance.training.checkpoint import EpochCheckpoint, TrainingState
from latentbalance.training.loop import (
    FitRun,
    LoopSettings,
    fit_autoencoder,
    fit_classifier,
    learning_rate_schedule,
    run_epochs,
    shuffled,
    train_one_epoch,
)
from latentbalance.training.runtime import Precision, seed_everything
from latentbalance.training.tensors import training_batches

from helpers import assert_same_weights, train_resnet, train_vae

CPU = torch.device("cpu")
FP32 = Precision(CPU, "fp32")


@pytest.mark.parametrize("train", [train_vae, train_resnet], ids=["vae", "resnet"])
def test_resumed_training_equals_uninterrupted_training(train, tmp_path):
    checkpoint = EpochCheckpoint(tmp_path / "state.pt", "job")
    # a run stopped after epoch 1 leaves its state (constant schedule: epoch 1 is the same
    # whether 1 or 3 epochs were asked for)
    train(1, checkpoint)
    assert checkpoint.restore()["epoch"] == 1
    resumed, resumed_history = train(3, checkpoint)
    uninterrupted, history = train(3)
    assert resumed_history == history
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert_same_weights(resumed, uninterrupted)


def test_run_that_stopped_early_is_not_trained_further_on_resume(tmp_path):
    # an early stop saves, however long before the interval ends
    checkpoint = EpochCheckpoint(tmp_path / "state.pt", "job", every_minutes=60)
    # patience 1 with lr 0.01 on noise: stops at the first epoch without improvement
    _, history = train_resnet(30, checkpoint, patience=1)
    assert len(history) < 30
    _, resumed_history = train_resnet(30, checkpoint, patience=1)
    assert resumed_history == history


@pytest.mark.parametrize("kind", ["paper", "official"])
def test_training_with_penalty_records_each_term(kind):
    generator = seed_everything(0)
    images = torch.rand(40, 1, 8, 8) * 2 - 1
    labels = torch.arange(40) % 3
    model = build_autoencoder("vae", 1, (8, 8), latent_dim=4, width=4)
    recipe = AutoencoderRecipe.from_config(
        {"epochs": 2, "batch_size": 8, "lr": 1e-3, "kl_weight": 1.0}
        | {"penalty_kind": kind, "penalty_weight": 0.5}
    )
    _, history = fit_autoencoder(
        model,
        images[:32],
        labels[:32],
        images[32:],
        recipe,
        FitRun(generator, FP32),
        penalty=True,
    )
    assert {"train_recon", "train_kl", "train_penalty", "train_loss", "val_mse"} <= set(history[0])
    assert history[0]["train_penalty"] > 0


def test_onecycle_warms_up_then_anneals_per_batch():
    model = torch.nn.Linear(2, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler, per_step = learning_rate_schedule(optimizer, "onecycle", epochs=4, steps_per_epoch=5)
    assert per_step
    rates = []
    for _ in range(20):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    peak = rates.index(max(rates))
    assert 4 <= peak <= 7  # 30 % of 20 steps
    assert max(rates) == pytest.approx(0.1, rel=1e-3)
    assert rates[0] < 0.01 and rates[-1] < 0.001


def fit_noise(seed, n_images, n_classes, n_val, **settings):
    """A small ResNet fitted with SGD (one-cycle unless told) on random 8x8 images (fp32, CPU)."""
    generator = seed_everything(seed)
    images = torch.rand(n_images, 1, 8, 8) * 2 - 1
    labels = torch.arange(n_images) % n_classes
    recipe = ClassifierRecipe.from_config(
        {"weight_decay": 0.0, "optimizer": "sgd", "schedule": "onecycle", **settings}
    )
    return fit_classifier(
        build_resnet("resnet18", 1, n_classes, "small"),
        images[:-n_val],
        labels[:-n_val],
        images[-n_val:],
        labels[-n_val:],
        recipe,
        FitRun(generator, FP32),
        n_classes=n_classes,
    )


def test_classifier_trains_with_augmentation_and_onecycle():
    augment = {"crop_padding": 1, "flip": True, "mix": "mixup_or_cutmix", "mix_alpha": 1.0}
    model, history = fit_noise(
        1, 40, 2, 8, epochs=3, batch_size=8, lr=0.05, patience=5, augment=augment
    )
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert all(np.isfinite(row["train_loss"]) for row in history)
    rates = [row["lr"] for row in history]
    assert rates[0] < rates[1]  # still warming up at the start of epoch 2 (peak at 30 %)


def test_onecycle_runs_to_the_end_of_its_anneal():
    """A one-cycle schedule converges as its rate anneals to zero at the last step; patience
    counted before that would stop runs mid-anneal, so with one-cycle early stopping only
    restores the best epoch."""
    # noise: nothing to learn, the validation loss only wanders
    _, history = fit_noise(3, 48, 3, 12, epochs=10, batch_size=12, lr=0.1, patience=1)
    assert [row["epoch"] for row in history] == list(range(1, 11))
    assert history[-1]["lr"] < 0.05 * max(row["lr"] for row in history)  # its last epoch
    # other schedules stop as soon as patience runs out
    _, history = fit_noise(3, 48, 3, 12, epochs=10, batch_size=12, lr=0.1, patience=1,
                           schedule="constant")  # fmt: skip
    assert len(history) < 10


class Killed(Exception):
    """A job killed mid-training."""


def fit_line(scaler, epochs=2, batch_size=5, checkpoint=None, seen=None, killed_in=None):
    """``run_epochs`` on a linear model fitted to 23 fixed points (uneven batches); ``seen``
    collects each step's loss as the loop's caller would have read it, one ``.item()`` a step;
    the job is killed as epoch ``killed_in`` starts."""
    generator = seed_everything(0)
    x = torch.linspace(-1, 1, 23)[:, None]
    y = 3 * x + 0.1 * torch.sin(40 * x)
    model = torch.nn.Linear(1, 1)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05, fused=True)

    def step(index, epoch):
        if epoch == killed_in:
            raise Killed
        prediction = model(x[index])
        loss = torch.nn.functional.mse_loss(prediction, y[index])
        hits = (prediction.detach() > 0).eq(y[index] > 0).sum()
        if seen is not None:
            seen.append((loss.item(), hits.item(), len(index)))
        return loss, {"train_loss": loss.detach().double() * len(index), "train_hits": hits}

    def validate(train):
        return -train["train_loss"], {}

    state = TrainingState(model, optimizer, generator, scaler)
    settings = LoopSettings(epochs, shuffled(len(x), batch_size))
    return run_epochs(state, step, validate, settings, checkpoint)


def test_epoch_means_are_the_python_float_sums_of_each_steps_loss():
    """The loop sums on the device in float64 and reads once per epoch: the history must equal,
    bit for bit, the Python-float running sums of ``loss.item() * n`` step by step (what every
    recorded history, e.g. the default run's, was computed with)."""
    seen = []
    _, history = fit_line(FP32.grad_scaler(), seen=seen)
    # 23 points in batches of 5: 4 batches of 5 and one of 3 per epoch
    assert [n for _, _, n in seen] == [5, 5, 5, 5, 3] * 2
    for epoch, row in enumerate(history):
        total, hits = 0.0, 0
        for loss, hit, n in seen[5 * epoch : 5 * epoch + 5]:
            total += loss * n
            hits += hit
        # exact, not approximately
        assert row["train_loss"] == total / 23 and row["train_hits"] == hits / 23


def single_values_read(fit) -> int:
    """How many single values (``.item()``, ``float(tensor)``) ``fit()`` reads from tensors:
    each is a wait for the device on a GPU."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Reads(TorchDispatchMode):
        count = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func is torch.ops.aten._local_scalar_dense.default:
                Reads.count += 1
            return func(*args, **(kwargs or {}))

    with Reads():
        fit()
    return Reads.count


def test_the_loop_waits_for_the_device_per_epoch_not_per_step():
    def fit(batch_size):
        return fit_noise(0, 28, 2, 4, epochs=1, batch_size=batch_size, lr=0.01, patience=5)

    fit(12)  # builds the small-map convolutions' cached tap tables: a one-time cost
    # 2 vs 6 steps: the same reads, at most the validation's (read as one list)
    assert single_values_read(lambda: fit(12)) == single_values_read(lambda: fit(4)) <= 2


def test_an_enabled_grad_scaler_scales_skips_overflowing_steps_and_resumes(tmp_path):
    """fp16's loss scaling (CUDA) in the loop, shown with the CPU's GradScaler: a scale so large
    that the gradients overflow skips those steps and lowers the scale; the scale is saved with
    each epoch, so that a resumed run continues where the uninterrupted one is."""

    def scaler():
        return torch.amp.GradScaler("cpu", init_scale=2.0**126, growth_interval=1000)

    plain, plain_history = fit_line(FP32.grad_scaler(), epochs=3)
    scaled = scaler()
    model, history = fit_line(scaled, epochs=3)
    assert scaled.get_scale() < 2.0**126  # overflowing steps were seen, skipped and scaled down
    assert history != plain_history  # the skipped steps did not move the weights ...
    assert all(torch.isfinite(p).all() for p in model.parameters())  # ... nor break them
    assert history[-1]["train_loss"] < history[0]["train_loss"]

    checkpoint = EpochCheckpoint(tmp_path / "state.pt", "job")
    fit_line(scaler(), epochs=1, checkpoint=checkpoint)
    resumed_scaler = scaler()
    resumed, resumed_history = fit_line(resumed_scaler, epochs=3, checkpoint=checkpoint)
    assert resumed_scaler.get_scale() == scaled.get_scale()
    assert resumed_history == history
    assert_same_weights(resumed, model)


def test_checkpoints_are_saved_on_their_interval_and_when_training_ends(tmp_path):
    """With an interval longer than the run, only the final state is written: a run killed in
    its third epoch leaves nothing to resume. With 0, it leaves its second epoch's, from which
    the rerun ends where an uninterrupted run ends, best weights included."""
    path = tmp_path / "state.pt"

    def fit(every_minutes, killed_in=None):
        checkpoint = EpochCheckpoint(path, "job", every_minutes=every_minutes)
        return fit_line(FP32.grad_scaler(), 4, checkpoint=checkpoint, killed_in=killed_in)

    with pytest.raises(Killed):
        fit(60, killed_in=3)
    assert not path.exists()
    model, history = fit(60)
    assert EpochCheckpoint(path, "job").restore()["epoch"] == 4

    path.unlink()
    with pytest.raises(Killed):
        fit(0, killed_in=3)
    assert EpochCheckpoint(path, "job").restore()["epoch"] == 2
    resumed, resumed_history = fit(0)
    assert resumed_history == history
    assert_same_weights(resumed, model)


def test_the_restored_classifier_is_the_best_validation_acsa_with_re_weighting_in_it():
    """A toy where deferred re-weighting matters: two overlapping Gaussians, 400 fit images of
    one class and 12 of the other. Before re-weighting the rare class is mostly missed; once the
    class-balanced weights switch on (epoch 6 of 10), its recall and the validation ACSA rise.
    Every classifier is chosen by its validation ACSA, so the restored weights are a DRW epoch's,
    although the validation loss (at the first epoch's, unweighted setting) is lowest before."""
    from latentbalance.rebalance.losses import MethodLoss
    from latentbalance.settings.recipes import LossRecipe

    generator = seed_everything(0)
    counts, val_counts = [400, 12], [400, 12]

    def points(per_class):
        labels = torch.repeat_interleave(torch.arange(2), torch.tensor(per_class))
        x = torch.randn(len(labels), 2, generator=generator) + 1.5 * labels[:, None]
        return x.reshape(-1, 1, 1, 2), labels

    x_fit, y_fit = points(counts)
    x_val, y_val = points(val_counts)
    settings = LossRecipe.from_config(
        {"ldam_max_margin": 0.01, "ldam_scale": 1.0, "drw_from": 0.5, "drw_beta": 0.9999}
    )
    loss = MethodLoss("ldam-drw", counts, settings, epochs=10)
    recipe = ClassifierRecipe.from_config(
        {"epochs": 10, "batch_size": 32, "lr": 0.05, "patience": 10, "weight_decay": 0.0}
    )
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2, 2))
    model, history = fit_classifier(
        model, x_fit, y_fit, x_val, y_val, recipe, FitRun(generator, FP32), n_classes=2, loss=loss
    )
    selected = [row for row in history if row["selected"]]
    assert len(selected) == 1 and selected[0]["epoch"] >= loss.drw_from == 6
    before = max(row["val_acsa"] for row in history if row["epoch"] < loss.drw_from)
    assert selected[0]["val_acsa"] > before + 0.05
    assert selected[0]["val_acsa"] == max(row["val_acsa"] for row in history)
    # the restored weights are that epoch's: they score its ACSA again
    with torch.no_grad():
        correct = (model(x_val).argmax(1) == y_val).float()
    recall = [correct[y_val == c].mean().item() for c in (0, 1)]
    assert np.mean(recall) == pytest.approx(selected[0]["val_acsa"], abs=1e-6)
    # what the old rule (lowest validation loss) would have kept: an epoch before DRW
    lowest_loss = min(history, key=lambda row: row["val_loss"])
    assert lowest_loss["epoch"] < loss.drw_from


def test_a_log_shows_each_epochs_progress_while_it_runs(capsys):
    """In a job's log (stderr is a file there, as under pytest's capture): batches done of all,
    images/s and the time left, every few seconds within the epoch and once at its end."""
    model = torch.nn.Linear(4, 2)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    state = TrainingState(model, optimizer, None, torch.amp.GradScaler("cpu", enabled=False))
    inputs = torch.randn(120, 4)

    def slow_step(index, _epoch):
        time.sleep(0.05)  # a step long enough for the log's interval to pass within the epoch
        loss = model(inputs[index]).square().mean()
        return loss, {"train_loss": loss.detach() * len(index)}

    train_one_epoch(state, slow_step, 3, training_batches(120, 10, None), progress_seconds=0.15)
    updates = [line for line in re.split("[\r\n]", capsys.readouterr().err) if "epoch 3" in line]
    during = [line for line in updates if re.search(r"batch ([1-9]|1[01])/12\b", line)]
    assert len(during) >= 2, updates  # lines within the epoch, not only at its end
    assert all(re.search(r"\d img/s", line) and re.search(r"<00:0\d", line) for line in during)
    assert "120/120" in updates[-1] and "batch 12/12" in updates[-1]  # left at the end
