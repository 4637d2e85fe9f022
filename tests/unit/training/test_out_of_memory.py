"""What a training job says when its device runs out of memory, and what its retry asks for."""

import pytest
import torch
from torch import nn

from latentbalance.settings.recipes import ClassifierRecipe
from latentbalance.snakemake_job import gpu_out_of_memory_marker, host_memory_mb
from latentbalance.training.loop import FitRun, fit_classifier
from latentbalance.training.out_of_memory import (
    OutOfMemory,
    classifier_advice,
    explained_out_of_memory,
)
from latentbalance.training.runtime import Precision

from helpers import images_and_labels


class OutOfMemoryAtTraining(nn.Module):
    """A model double that fails the way a too-large batch fails on a GPU: torch's own error,
    from the forward pass of a training step (validation never runs)."""

    def __init__(self, message):
        super().__init__()
        self.linear, self.message = nn.Linear(64, 3), message

    def forward(self, x):
        if self.training:
            raise self.message
        return self.linear(x.flatten(1))


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 21.00 GiB"),
        RuntimeError("CUDA error: out of memory"),
    ],
)
def test_out_of_memory_names_the_job_the_batch_and_what_to_lower(error, monkeypatch):
    # torch before 2.5, which pyproject allows, has no OutOfMemoryError: plain RuntimeErrors
    monkeypatch.delattr(torch, "OutOfMemoryError")
    images, labels = images_and_labels()
    recipe = ClassifierRecipe.from_config({"stem": "small", "epochs": 1, "batch_size": 100})
    cuda = torch.device("cuda")  # only named in the message: the double never computes on it
    with pytest.raises(OutOfMemory) as raised:
        with explained_out_of_memory(
            "train_classifier smote-ae resnet152 fold 3",
            cuda,
            classifier_advice("resnet152", recipe),
        ):
            cpu = torch.device("cpu")
            fit_classifier(
                OutOfMemoryAtTraining(error),
                images[:40],
                labels[:40],
                images[40:],
                labels[40:],
                recipe,
                FitRun(torch.Generator().manual_seed(0), Precision(cpu, "fp32")),
                n_classes=3,
            )
    message = str(raised.value)
    for words in [
        "train_classifier smote-ae resnet152 fold 3 ran out of GPU memory",
        "resnet152 with classifier.batch_size 100 and stem 'small'",
        "lower classifier.batch_size",
        "classifier.stem",
        "smaller classifier",
        "more GPU memory",
        "out of memory",  # torch's own line, for the numbers
    ]:
        assert words in message, (words, message)


def test_the_hosts_memory_running_out_is_explained_too():
    """The CPU allocator's error is a plain RuntimeError, on every torch."""
    with pytest.raises(OutOfMemory, match="ran out of host memory: advice.*can't allocate"):
        with explained_out_of_memory("job", torch.device("cpu"), "advice"):
            torch.empty(2**62, dtype=torch.uint8)


def test_other_errors_pass_through():
    with pytest.raises(RuntimeError, match="shape mismatch"):
        with explained_out_of_memory("job", torch.device("cpu"), "advice"):
            raise RuntimeError("shape mismatch")


@pytest.mark.parametrize(("device", "marked"), [("cuda", True), ("cpu", False)])
def test_only_gpu_memory_leaves_the_marker_that_keeps_host_memory(tmp_path, device, marked):
    """A retry after running out of GPU memory must not ask SLURM for twice the host memory."""
    checkpoint = tmp_path / "classifier-none-resnet18.pt"
    with pytest.raises(OutOfMemory):
        with explained_out_of_memory("job", torch.device(device), "advice", checkpoint):
            raise torch.OutOfMemoryError("out of memory")
    assert gpu_out_of_memory_marker(checkpoint).exists() == marked
    assert host_memory_mb(8000, 2, checkpoint) == (8000 if marked else 16000)
    # the next try starts clean: a later failure for host memory gets its doubling again
    with explained_out_of_memory("job", torch.device(device), "advice", checkpoint):
        pass
    assert not gpu_out_of_memory_marker(checkpoint).exists()
    assert host_memory_mb(8000, 2, checkpoint) == 16000
