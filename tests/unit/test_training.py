"""Training resumes from its per-epoch checkpoint and ends where an uninterrupted run ends."""

import pytest
import torch

from latentbalance.autoencoders import build_autoencoder
from latentbalance.classifiers import build_resnet
from latentbalance.training import (
    EpochCheckpoint,
    Precision,
    fit_autoencoder,
    fit_classifier,
    seed_everything,
)

CPU = torch.device("cpu")
FP32 = Precision(CPU, "fp32")


def images_and_labels(n=48, classes=3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(n, 1, 8, 8, generator=generator) * 2 - 1
    return images, torch.arange(n) % classes


def train_vae(epochs, checkpoint=None):
    """A VAE with DeepSMOTE's penalty: both draw random numbers inside the loop."""
    images, labels = images_and_labels()
    generator = seed_everything(3)
    model = build_autoencoder("vae", 1, (8, 8), 4, width=4)
    return fit_autoencoder(
        model,
        images[:40],
        labels[:40],
        images[40:],
        epochs=epochs,
        batch_size=16,
        lr=0.01,
        loss_weights={"kl_weight": 0.1},
        penalty={"kind": "paper", "weight": 1.0},
        generator=generator,
        device=CPU,
        precision=FP32,
        checkpoint=checkpoint,
    )


def train_resnet(epochs, checkpoint=None, patience=5):
    images, labels = images_and_labels()
    generator = seed_everything(5)
    model = build_resnet("resnet18", 1, 3, "small")
    return fit_classifier(
        model,
        images[:40],
        labels[:40],
        images[40:],
        labels[40:],
        epochs=epochs,
        batch_size=16,
        lr=0.01,
        weight_decay=1e-4,
        optimizer_name="sgd",
        schedule="constant",
        patience=patience,
        class_weights=None,
        generator=generator,
        device=CPU,
        precision=FP32,
        checkpoint=checkpoint,
    )


def assert_same_weights(a, b):
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


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


def test_checkpoint_of_other_settings_or_truncated_is_ignored(tmp_path, caplog):
    path = tmp_path / "state.pt"
    train_resnet(1, EpochCheckpoint(path, "settings A"))
    assert EpochCheckpoint(path, "settings B").restore() is None
    assert "other settings" in caplog.text

    path.write_bytes(path.read_bytes()[:1000])  # a kill during a write elsewhere, a full disk
    assert EpochCheckpoint(path, "settings A").restore() is None
    assert "unreadable checkpoint" in caplog.text and str(path) in caplog.text
    # and training then starts anew, with the result of a run that never had a checkpoint
    model, history = train_resnet(2, EpochCheckpoint(path, "settings A"))
    reference, reference_history = train_resnet(2)
    assert history == reference_history
    assert_same_weights(model, reference)


def test_run_that_stopped_early_is_not_trained_further_on_resume(tmp_path):
    checkpoint = EpochCheckpoint(tmp_path / "state.pt", "job")
    # patience 1 with lr 0.01 on noise: stops at the first epoch without improvement
    _, history = train_resnet(30, checkpoint, patience=1)
    assert len(history) < 30
    _, resumed_history = train_resnet(30, checkpoint, patience=1)
    assert resumed_history == history
