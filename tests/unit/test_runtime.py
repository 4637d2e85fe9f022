"""Seeds, device and precision of a job."""

import pytest
import torch

from latentbalance.runtime import Precision, seed_everything, select_device, stage_seed


def test_one_seed_drives_every_generator_and_each_job_gets_its_own():
    generator = seed_everything(7)
    first = (torch.rand(3), torch.randperm(10, generator=generator))
    generator = seed_everything(7)
    again = (torch.rand(3), torch.randperm(10, generator=generator))
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    assert stage_seed(7, 0, "classifier", "resnet18") == stage_seed(7, 0, "classifier", "resnet18")
    assert stage_seed(7, 0, "classifier") != stage_seed(7, 1, "classifier")
    assert stage_seed(7, 0, "classifier") != stage_seed(8, 0, "classifier")


def test_gpu_asked_without_one_names_the_key():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert select_device("auto").type == "cpu"
    with pytest.raises(RuntimeError, match="'compute.device' to 'cpu' or 'auto'"):
        select_device("cuda")


def test_fp32_autocasts_nothing_and_bf16_autocasts_to_bfloat16():
    cpu = torch.device("cpu")
    layer = torch.nn.Linear(4, 4)
    with Precision(cpu, "fp32").autocast():
        assert layer(torch.rand(2, 4)).dtype == torch.float32
    bf16 = Precision(cpu, "bf16")
    with bf16.autocast():
        assert layer(torch.rand(2, 4)).dtype == torch.bfloat16
    assert bf16.prepare(torch.rand(2, 3, 4, 4)).is_contiguous(memory_format=torch.channels_last)
    assert bf16.prepare(torch.rand(2, 4)).is_contiguous()  # only image batches change layout
