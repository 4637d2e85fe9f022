"""Random changes to training batches: crop and flip per image, MixUp / CutMix across the batch."""

import pytest
import torch

from latentbalance.training.augmentation import augmentation, batch_mixing


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


def test_a_cpu_batch_is_augmented_image_by_image_as_the_recorded_figures_were():
    """The CPU keeps torchvision's per-image crop and flip, draw for draw: the recorded CPU runs
    (benchmarks/RESULTS.md) reproduce only with the random numbers they were made with."""
    from torchvision.transforms import v2

    images = torch.rand(12, 1, 8, 8)
    torch.manual_seed(3)
    ours = augmentation(2, True, (8, 8))(images)
    torch.manual_seed(3)
    per_image = v2.Compose([v2.RandomCrop([8, 8], padding=2, padding_mode="edge"),
                            v2.RandomHorizontalFlip()])  # fmt: skip
    assert torch.equal(ours, torch.stack([per_image(image) for image in images]))


def placements(image: torch.Tensor, padding: int) -> dict:
    """Every way to crop ``image`` (C, H, W) padded by ``padding`` replicated border pixels back
    to its size, then mirror it or not: {(row shift, column shift, mirrored): result}."""
    height, width = image.shape[-2:]
    found = {}
    for dy in range(-padding, padding + 1):
        for dx in range(-padding, padding + 1):
            rows = (torch.arange(height) + dy).clamp(0, height - 1)
            cols = (torch.arange(width) + dx).clamp(0, width - 1)
            shifted = image[:, rows][:, :, cols]
            found[(dy, dx, False)] = shifted
            found[(dy, dx, True)] = shifted.flip(-1)
    return found


def placement_of(output: torch.Tensor, image: torch.Tensor, padding: int):
    matches = [
        key for key, value in placements(image, padding).items() if torch.equal(output, value)
    ]
    assert len(matches) == 1, "not a crop of the edge-padded image, mirrored or not"
    return matches[0]


def test_batched_crop_and_flip_places_each_image_on_its_own():
    """The GPU's path: one gather for the whole batch, each image with its own offsets in
    [-2, 2] and its own flip, drawn uniformly, the same transform the per-image path applies."""
    images = torch.arange(3 * 8 * 8, dtype=torch.float32).reshape(1, 3, 8, 8)  # all distinct
    batch = images.repeat(400, 1, 1, 1)
    torch.manual_seed(0)
    out = augmentation(2, True, (8, 8), batched=True)(batch)
    assert out.shape == batch.shape
    drawn = [placement_of(image, images[0], 2) for image in out]
    rows, cols, mirrored = (torch.tensor([d[k] for d in drawn]) for k in range(3))
    # every shift of [-2, 2] about equally often (80 each of 400), half of the images mirrored
    for shifts in (rows, cols):
        counts = torch.bincount(shifts + 2, minlength=5)
        assert len(counts) == 5 and counts.min() > 50 and counts.max() < 110
    assert 160 < mirrored.sum() < 240
    # the images of one batch differ: neighbours mostly land elsewhere
    assert len(set(drawn[:20])) > 10
    # the per-image path lands on the same placements
    for image in augmentation(2, True, (8, 8), batched=False)(batch[:20]):
        placement_of(image, images[0], 2)
    # flip alone mirrors or keeps each image, crop alone never mirrors
    flips = augmentation(0, True, (8, 8), batched=True)(batch[:40])
    assert {placement_of(image, images[0], 0)[2] for image in flips} == {True, False}
    crops = augmentation(1, False, (8, 8), batched=True)(batch[:40])
    assert {placement_of(image, images[0], 1)[2] for image in crops} == {False}


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.uint8])
def test_batched_crop_and_flip_keeps_the_device_and_dtype(dtype):
    batch = (torch.rand(6, 1, 8, 8) * 100).to(dtype)
    out = augmentation(2, True, (8, 8), batched=True)(batch)
    assert out.dtype == dtype and out.device == batch.device
    assert set(out.unique().tolist()) <= set(batch.unique().tolist())
    # a batch on another device (``meta`` here, a GPU in training) is transformed there, batched:
    # its draws come from that device, none from the CPU's generator (the per-image path's)
    cpu_generator = torch.get_rng_state()
    on_device = augmentation(2, True, (8, 8))(batch.to("meta"))
    assert torch.equal(torch.get_rng_state(), cpu_generator)
    assert on_device.device.type == "meta" and on_device.dtype == dtype
    assert on_device.shape == batch.shape


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


def test_remix_gives_a_mixed_pair_the_minority_label_by_its_rule():
    """Remix (Chou et al. 2020), κ = 3, τ = 0.5, on fit counts 300 / 100 / 50 / 40, by hand: a
    pair's label goes wholly to the minority image when the other class has ≥ κ times its
    count and the other image's share of the mix is below τ; otherwise the labels blend."""
    from latentbalance.training.augmentation import remix_targets

    counts = torch.tensor([300.0, 100.0, 50.0, 40.0])
    labels = torch.tensor([0, 3, 1, 2])
    partners = torch.tensor([3, 0, 2, 1])  # image i is mixed with partner i
    # lam = 0.3: each image keeps 30 % of the pixels, its partner gives 70 %
    targets = remix_targets(0.3, labels, partners, counts, 3.0, 0.5, 4)
    # 0 (300) with 3 (40): ratio 7.5 ≥ 3 and the majority's share 0.3 < 0.5 -> all class 3
    assert targets[0].tolist() == [0, 0, 0, 1]
    # 3 (40) with 0 (300): ratio 1/7.5, but the majority image's share 0.7 ≥ 0.5 -> blend
    assert targets[1].tolist() == pytest.approx([0.7, 0, 0, 0.3])
    # 1 (100) with 2 (50): ratio 2 < 3 -> blend
    assert targets[2].tolist() == pytest.approx([0, 0.3, 0.7, 0])
    # lam = 0.8: the minority image 3 keeps 80 %, the majority's share 0.2 < 0.5 -> all class 3
    assert remix_targets(0.8, labels, partners, counts, 3.0, 0.5, 4)[1].tolist() == [0, 0, 0, 1]
    # ... and the majority image 0 keeping 80 % is a plain blend
    assert remix_targets(0.8, labels, partners, counts, 3.0, 0.5, 4)[0].tolist() == pytest.approx(
        [0.8, 0, 0, 0.2]
    )


def test_remix_mixes_images_as_mixup_does_and_its_targets_are_distributions():
    from latentbalance.training.augmentation import remix

    torch.manual_seed(0)
    images = torch.rand(6, 1, 4, 4)
    labels = torch.tensor([0, 0, 0, 0, 1, 1])
    mixed, targets = remix(1.0, [400, 20], 3.0, 0.5, 2)(images.clone(), labels)
    lam = (mixed[0] - images[-1]).flatten()[0] / (images[0] - images[-1]).flatten()[0]
    assert torch.allclose(mixed, lam * images + (1 - lam) * images.roll(1, 0), atol=1e-5)
    assert torch.allclose(targets.sum(1), torch.ones(6))
