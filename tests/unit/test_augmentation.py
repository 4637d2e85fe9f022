"""Random changes to training batches: crop and flip per image, MixUp / CutMix across the batch."""

import pytest
import torch

from latentbalance.augmentation import augmentation, batch_mixing


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
    with pytest.raises(ValueError, match="unknown classifier.augment.mix 'blend'; choose one of"):
        batch_mixing("blend", 1.0, 3)
