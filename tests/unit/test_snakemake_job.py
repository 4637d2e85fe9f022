"""What every job does first: here, taking a GPU of its own where several are visible."""

import os
from types import SimpleNamespace

import pytest
import torch

from latentbalance.snakemake_job import assign_gpu, claim_gpu, named


def job(gpu):
    """An object shaped like a script's ``snakemake``: what assign_gpu reads of it."""
    return SimpleNamespace(threads=2, resources=SimpleNamespace(_cores=2, gpu=gpu))


@pytest.fixture
def release():
    """Close the slot locks a test took (the job's exit does it in a real run)."""
    held = []
    yield held.append
    for fd in held:
        os.close(fd)


def test_jobs_take_different_cards_and_a_freed_card_is_reused(tmp_path, release):
    first, first_fd = claim_gpu(["0", "1"], tmp_path)
    second, second_fd = claim_gpu(["0", "1"], tmp_path)
    assert {first, second} == {"0", "1"}
    release(second_fd)
    # more jobs than cards (--resources gpu=3 on two cards): they share, one more per card
    third, third_fd = claim_gpu(["0", "1"], tmp_path)
    release(third_fd)
    assert third == first
    os.close(first_fd)  # the first job ends: its card is free again
    again, again_fd = claim_gpu(["0", "1"], tmp_path)
    release(again_fd)
    assert again == first


def test_a_job_that_asks_a_gpu_gets_its_own_card(tmp_path, monkeypatch, release):
    # four GPUs, as NVML counts them without initialising CUDA
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setattr(torch.cuda, "_device_count_nvml", lambda: 4)
    cards = []
    for _ in range(4):
        card, fd = assign_gpu(job(gpu=1), tmp_path)
        release(fd)
        cards.append(os.environ.pop("CUDA_VISIBLE_DEVICES"))
        assert card == cards[-1]
    assert sorted(cards) == ["0", "1", "2", "3"]


def test_a_cpu_job_or_a_scheduler_granted_card_is_left_alone(tmp_path, monkeypatch, release):
    monkeypatch.setattr(torch.cuda, "_device_count_nvml", lambda: 4)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert assign_gpu(job(gpu=0), tmp_path) is None
    assert "CUDA_VISIBLE_DEVICES" not in os.environ
    # SLURM sets the card it granted: the job keeps it
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5")
    assert assign_gpu(job(gpu=1), tmp_path) is None
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "5"
    # a run restricted to two cards spreads its jobs over those two only
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    card, fd = assign_gpu(job(gpu=1), tmp_path)
    release(fd)
    assert card == "2" and os.environ["CUDA_VISIBLE_DEVICES"] == "2"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    card, fd = assign_gpu(job(gpu=1), tmp_path)
    release(fd)
    assert card == "5"


def test_a_rules_named_files_reach_the_stage_as_a_plain_mapping():
    from snakemake.iocontainers import InputFiles

    # as Snakemake names a rule's files: an input function's list is a named slice
    files = InputFiles(["fold0/metrics.json", "fold1/metrics.json", "summary/leaderboard.png"])
    files._set_name("metrics", 0, 2)
    files._set_name("plot", 2)
    assert named(files) == {
        "metrics": ["fold0/metrics.json", "fold1/metrics.json"],
        "plot": "summary/leaderboard.png",
    }
    assert type(named(files)["metrics"]) is list  # not a Snakemake container
