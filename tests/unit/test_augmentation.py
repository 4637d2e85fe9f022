"""The classifier recipe's options: one-cycle schedule, batch augmentation and mixing."""

import numpy as np
import pytest
import torch

from latentbalance.classifiers import build_resnet
from latentbalance.training import (
    Precision,
    augmentation,
    batch_mixing,
    fit_classifier,
    learning_rate_schedule,
    seed_everything,
)


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


def test_augmentation_translates_and_flips_each_image_reproducibly():
    assert augmentation(0, False, (8, 8)) is None
    images = torch.arange(2 * 64, dtype=torch.float32).reshape(2, 1, 8, 8)
    augment = augmentation(2, True, (8, 8))
    torch.manual_seed(0)
    first = augment(images.repeat(16, 1, 1, 1))
    torch.manual_seed(0)
    again = augment(images.repeat(16, 1, 1, 1))
    assert torch.equal(first, again) and first.shape == (32, 1, 8, 8)
    # copies of one image come out differently placed or mirrored, their values stay the image's
    copies = first[::2]
    assert len({c.numpy().tobytes() for c in copies}) > 4
    assert set(copies.unique().tolist()) <= set(images[0].unique().tolist())
    flipped_only = augmentation(0, True, (8, 8))(images.repeat(16, 1, 1, 1))
    for image in flipped_only[::2]:
        assert torch.equal(image, images[0]) or torch.equal(image, images[0].flip(-1))


@pytest.mark.parametrize("kind", ["mixup", "cutmix", "mixup_or_cutmix"])
def test_mixing_blends_images_and_labels_in_the_same_share(kind):
    assert batch_mixing("none", 1.0, 3) is None
    # each image is one constant value, its class's: a blend's mean tells the share it took
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    images = labels.float().reshape(6, 1, 1, 1).expand(6, 1, 8, 8).contiguous()
    mix = batch_mixing(kind, 1.0, 3)
    torch.manual_seed(0)
    for _ in range(5):
        mixed, soft = mix(images, labels)
        assert mixed.shape == images.shape and soft.shape == (6, 3)
        assert torch.allclose(soft.sum(1), torch.ones(6))
        # the expected class value under the soft label is the mixed image's mean value
        expected = soft @ torch.tensor([0.0, 1.0, 2.0])
        assert torch.allclose(mixed.mean((1, 2, 3)), expected, atol=1e-5)
    with pytest.raises(ValueError, match="unknown mix 'blend'"):
        batch_mixing("blend", 1.0, 3)


def fit_noise(seed, n_images, n_classes, n_val, **settings):
    """A small ResNet fitted with SGD (one-cycle unless told) on random 8x8 images (fp32, CPU)."""
    generator = seed_everything(seed)
    images = torch.rand(n_images, 1, 8, 8) * 2 - 1
    labels = torch.arange(n_images) % n_classes
    return fit_classifier(
        build_resnet("resnet18", 1, n_classes, "small"),
        images[:-n_val],
        labels[:-n_val],
        images[-n_val:],
        labels[-n_val:],
        weight_decay=0.0,
        optimizer_name="sgd",
        class_weights=None,
        generator=generator,
        device=torch.device("cpu"),
        precision=Precision(torch.device("cpu"), "fp32"),
        **{"schedule": "onecycle", **settings},
    )


def test_classifier_trains_with_augmentation_and_onecycle():
    model, history = fit_noise(
        1, 40, 2, 8,
        epochs=3, batch_size=8, lr=0.05, patience=5,
        augment=augmentation(1, True, (8, 8)),
        mix=batch_mixing("mixup_or_cutmix", 1.0, 2),
    )  # fmt: skip
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert all(np.isfinite(row["train_loss"]) for row in history)
    rates = [row["lr"] for row in history]
    assert rates[0] < rates[1]  # still warming up at the start of epoch 2 (peak at 30 %)


def test_real_validation_keeps_repeats_of_validation_images_out_of_fitting():
    from latentbalance.stages import validation_split

    # 10 real images per class (dataset indices 100..119), each repeated 3 times, plus synthetic
    real = np.arange(100, 120)
    labels_real = np.repeat([0, 1], 10)
    repeats = np.repeat(real, 3)
    source = np.concatenate([real, repeats, np.full(8, -1)])
    labels = np.concatenate([labels_real, np.repeat(labels_real, 3), np.repeat([0, 1], 4)])
    fit, val = validation_split(labels, source, len(real), 0.2, "real", seed=0)
    assert np.isin(val, np.arange(len(real))).all()  # validation: real images only
    assert np.bincount(labels[val]).tolist() == [2, 2]
    assert not np.isin(source[fit], source[val]).any()  # no copy of a validation image is fitted
    # everything else is fitted: the other real images, their repeats, every synthetic image
    assert len(fit) + len(val) * 4 == len(labels)
    assert (source[fit] == -1).sum() == 8


def test_onecycle_runs_to_the_end_of_its_anneal():
    """A one-cycle schedule converges as its rate anneals to zero at the last step; patience
    counted before that stopped runs mid-anneal (FashionMNIST-LT: epoch 34 of 40, weights of
    epoch 29), so with one-cycle early stopping only restores the best epoch."""
    # noise: nothing to learn, the validation loss only wanders
    _, history = fit_noise(3, 48, 3, 12, epochs=10, batch_size=12, lr=0.1, patience=1)
    assert [row["epoch"] for row in history] == list(range(1, 11))
    assert history[-1]["lr"] < 0.05 * max(row["lr"] for row in history)  # its last epoch
    # other schedules stop as soon as patience runs out
    _, history = fit_noise(3, 48, 3, 12, epochs=10, batch_size=12, lr=0.1, patience=1,
                           schedule="constant")  # fmt: skip
    assert len(history) < 10
