"""Class probabilities from a classifier, and the post-hoc logit adjustment."""

import numpy as np
import pytest
import torch

from latentbalance.data.image_dataset import ImageDataset
from latentbalance.training.runtime import Precision
from latentbalance.verdict.prediction import logit_adjusted, predict_proba, predict_sets

CPU = torch.device("cpu")


def test_logit_adjustment_moves_a_close_call_towards_the_rare_class():
    probabilities = np.array([[0.6, 0.4], [0.95, 0.05]], dtype=np.float32)
    prior = np.array([0.9, 0.1])  # class 1 was rare in training
    adjusted = logit_adjusted(probabilities, prior, tau=1.0)
    assert adjusted.argmax(1).tolist() == [1, 0]  # a clear call stays
    assert adjusted.dtype == np.float32 and np.allclose(adjusted.sum(1), 1)
    # a smaller tau moves less: the close call with tau 0.1 stays with the common class
    assert logit_adjusted(probabilities, prior, tau=0.1).argmax(1).tolist() == [0, 0]
    assert logit_adjusted(probabilities, prior, tau=0) is probabilities


def test_a_balanced_prior_changes_nothing():
    probabilities = np.array([[0.2, 0.5, 0.3]])
    assert logit_adjusted(probabilities, np.full(3, 1 / 3), 1.0) == pytest.approx(probabilities)


class LeftHalf(torch.nn.Module):
    """A classifier that looks at the left half of an image only: its mirror gets another answer."""

    def forward(self, images):
        left = images[..., : images.shape[-1] // 2].mean(dim=(1, 2, 3))
        return torch.stack([left, -left], dim=1) * 5


def test_probabilities_sum_to_one_and_test_time_flip_treats_an_image_as_its_mirror():
    images = torch.rand(5, 1, 4, 6) * 2 - 1
    plain = predict_proba(LeftHalf(), images, 2, CPU)
    assert plain.shape == (5, 2) and np.allclose(plain.sum(1), 1, atol=1e-6)
    flipped = predict_proba(LeftHalf(), images, 2, CPU, test_time_flip=True)
    mirrored = predict_proba(LeftHalf(), images.flip(-1), 2, CPU, test_time_flip=True)
    assert np.allclose(flipped, mirrored, atol=1e-6) and not np.allclose(plain, flipped)


def test_a_near_tie_is_scored_in_fp32_not_in_the_training_precision():
    """Class 1's logit is 0.2 % above class 0's: bf16 (8 bits of mantissa) rounds both to 1 and
    calls a tie, fp32 scoring picks class 1."""
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(2, 2, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(2))
    image = torch.tensor([1.0, 1.002]).reshape(1, 1, 1, 2)
    bf16 = Precision(CPU, "bf16")
    with torch.no_grad(), bf16.autocast():
        assert torch.equal(model(image)[0, 0], model(image)[0, 1])  # what bf16 would score
    probabilities = predict_proba(model, image, 1, CPU)
    assert probabilities.argmax(1).tolist() == [1]
    assert probabilities[0, 1] == pytest.approx(torch.softmax(torch.tensor([1.0, 1.002]), 0)[1])


class Counting(torch.nn.Module):
    """Scores an image by its mean brightness and counts the images it is shown."""

    def __init__(self):
        super().__init__()
        self.seen = 0

    def forward(self, images):
        self.seen += len(images)
        level = images.mean(dim=(1, 2, 3))
        return torch.stack([level, -level], dim=1) * 3


def test_the_imbalanced_test_set_reads_its_rows_of_the_test_set_and_no_image_is_classified_twice():
    rng = np.random.default_rng(0)
    dataset = ImageDataset(
        images=rng.integers(0, 256, (40, 1, 4, 4), dtype=np.uint8),
        labels=np.arange(40) % 2,
        class_names=["a", "b"],
    )
    test = rng.permutation(np.arange(10, 40))  # in no particular order, as a split writes it
    imbalanced = test[[17, 3, 25, 8]]
    holdout = np.arange(10)  # outside the test set: classified on its own
    model = Counting()
    wanted = {"test": test, "test_imbalanced": imbalanced, "holdout": holdout}
    scored = predict_sets(model, dataset, wanted, {"test": test}, 8, CPU, test_time_flip=True)
    assert model.seen == 2 * (30 + 10)  # each image and its mirror once
    for name, indices in wanted.items():
        alone = predict_proba(Counting(), dataset.view(indices), 8, CPU, test_time_flip=True)
        assert np.allclose(scored[name], alone, atol=1e-6), name
    # scored without the test set, the subset still reads the test set's classification
    only = predict_sets(
        Counting(), dataset, {"test_imbalanced": imbalanced}, {"test": test}, 8, CPU
    )
    assert np.array_equal(
        only["test_imbalanced"],
        predict_proba(Counting(), dataset.view(test), 8, CPU)[[17, 3, 25, 8]],
    )
