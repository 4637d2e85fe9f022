"""Images as tensors and the batches every loop slices."""

import numpy as np
import pytest
import torch

from latentbalance.training.runtime import Precision
from latentbalance.training.tensors import (
    DeviceRows,
    batches,
    device_rows,
    resident_on_device,
    run_in_batches,
    to_uint8,
    to_unit_range,
    training_batches,
)

MB = 2**20


def test_uint8_images_survive_the_round_trip_through_the_unit_range():
    images = np.arange(256, dtype=np.uint8).reshape(4, 1, 8, 8)
    unit = to_unit_range(images)
    assert unit.dtype == torch.float32 and unit.shape == (4, 1, 8, 8)
    assert unit.min() == -1.0 and unit.max() == 1.0  # the decoder's Tanh range, end to end
    assert np.array_equal(to_uint8(unit), images)


def test_decoder_outputs_beyond_the_range_are_clipped_not_wrapped():
    decoded = torch.tensor([-1.5, -1.0, 0.0, 1.0, 1.2]).reshape(1, 1, 1, 5)
    assert to_uint8(decoded).ravel().tolist() == [0, 0, 128, 255, 255]


def test_batches_cover_every_item_once_in_order_or_shuffled_reproducibly():
    ordered = list(batches(10, 4, None))
    assert [b.tolist() for b in ordered] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    first = torch.cat(list(batches(10, 4, torch.Generator().manual_seed(3))))
    again = torch.cat(list(batches(10, 4, torch.Generator().manual_seed(3))))
    assert sorted(first.tolist()) == list(range(10)) and torch.equal(first, again)


def test_training_batches_drop_a_last_batch_of_one_image():
    # BatchNorm cannot train on a single image
    assert [len(b) for b in training_batches(9, 4, None)] == [4, 4]
    assert [len(b) for b in training_batches(10, 4, None)] == [4, 4, 2]


def test_running_in_batches_gives_what_one_pass_gives():
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.Flatten()).eval()
    inputs = torch.randn(7, 1, 6, 6)
    precision = Precision(torch.device("cpu"), "fp32")
    out = run_in_batches(net, inputs, 3, torch.device("cpu"), precision)
    with torch.no_grad():
        assert torch.allclose(out, net(inputs), atol=1e-6)


def test_a_training_set_stays_on_the_card_where_it_fits():
    """Kept on the card when it takes at most a quarter of its free memory, else copied batch by
    batch; never moved on the CPU."""
    cuda = torch.device("cuda")
    fmnist_lt_fold = 9000 * 28 * 28 * 4  # ~27 MB of fp32 images
    assert resident_on_device(fmnist_lt_fold, cuda, free_bytes=70_000 * MB)
    assert resident_on_device(fmnist_lt_fold, cuda, free_bytes=4 * fmnist_lt_fold)
    assert not resident_on_device(fmnist_lt_fold, cuda, free_bytes=4 * fmnist_lt_fold - 1)
    assert not resident_on_device(20_000 * MB, cuda, free_bytes=70_000 * MB)
    assert not resident_on_device(MB, torch.device("cpu"), free_bytes=70_000 * MB)


def test_on_the_cpu_the_batches_are_the_tensors_own_rows():
    images, labels = torch.randn(10, 1, 4, 4), torch.arange(10)
    image_rows, label_rows = device_rows(torch.device("cpu"), images, labels)
    for index in batches(10, 4, torch.Generator().manual_seed(0)):
        assert torch.equal(image_rows[index], images[index])
        assert torch.equal(label_rows[index], labels[index])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA card")
@pytest.mark.parametrize("resident", [True, False], ids=["kept-on-the-card", "pinned-copies"])
def test_on_a_card_the_batches_are_the_host_tensors_rows(resident):
    images, cuda = torch.randn(10, 1, 4, 4), torch.device("cuda")
    rows = DeviceRows(images, cuda, resident)
    for index in batches(10, 4, torch.Generator().manual_seed(0)):
        batch = rows[index]
        assert batch.device.type == "cuda" and torch.equal(batch.cpu(), images[index])
