"""What every job does first: here, taking a GPU of its own where several are visible."""

import os
import pickle
import shutil
import stat
import tempfile
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from latentbalance.snakemake_job import (
    assign_gpu,
    claim_gpu,
    data_memory_mb,
    gpu_lock_dir,
    machine_memory_mb,
    named,
    refuse_unfit,
)
from latentbalance.training import environment


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


def four_gpus(monkeypatch, tmp_path):
    """A host whose NVIDIA driver lists four GPUs, as NVML counts them (without CUDA)."""
    listed = tmp_path / "driver-gpus"
    for bus in range(4):
        (listed / f"0000:{bus:02x}:00.0").mkdir(parents=True)
    monkeypatch.setattr(environment, "NVIDIA_GPUS", listed)
    monkeypatch.setattr(torch.cuda, "_device_count_nvml", lambda: 4)


def test_a_job_that_asks_a_gpu_gets_its_own_card(tmp_path, monkeypatch, release):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    four_gpus(monkeypatch, tmp_path)
    cards = []
    for _ in range(4):
        card, fd = assign_gpu(job(gpu=1), tmp_path)
        release(fd)
        cards.append(os.environ.pop("CUDA_VISIBLE_DEVICES"))
        assert card == cards[-1]
    assert sorted(cards) == ["0", "1", "2", "3"]


def test_a_cpu_job_or_a_scheduler_granted_card_is_left_alone(tmp_path, monkeypatch, release):
    four_gpus(monkeypatch, tmp_path)
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


def as_user(uid: int, function):
    """``function()`` run in a child process as user ``uid`` (root only); its result."""
    reading, writing = os.pipe()
    child = os.fork()
    if child == 0:  # the child: never back into pytest
        try:
            os.close(reading)
            os.setgid(uid)
            os.setuid(uid)
            result = function()
        except BaseException as error:  # noqa: BLE001 - sent back to the test
            result = error
        with os.fdopen(writing, "wb") as pipe:
            pickle.dump(result, pipe)
        os._exit(0)
    os.close(writing)
    with os.fdopen(reading, "rb") as pipe:
        result = pickle.load(pipe)
    os.waitpid(child, 0)
    if isinstance(result, BaseException):
        raise result
    return result


@pytest.fixture
def shared_temp(monkeypatch):
    """A temp folder as /tmp is: everyone's, sticky; tempfile.gettempdir() returns it."""
    folder = tempfile.mkdtemp(dir="/tmp", prefix="lb-shared-")  # reachable by other users
    os.chmod(folder, 0o1777)
    monkeypatch.setattr(tempfile, "tempdir", folder)
    yield folder
    shutil.rmtree(folder)


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root")
def test_two_users_on_one_host_each_spread_their_jobs_over_the_cards(shared_temp, monkeypatch):
    """Each user's locks live in a folder of their own: another user's lock files, which
    fs.protected_regular forbids opening with O_CREAT, never sent a job to the first card."""
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")

    def two_jobs():
        first = assign_gpu(job(gpu=1))  # the second is claimed while the first still runs
        os.environ["CUDA_VISIBLE_DEVICES"] = "0,1"
        second = assign_gpu(job(gpu=1))
        folder = gpu_lock_dir()
        return first and first[0], second and second[0], folder.stat(), sorted(os.listdir(folder))

    for uid in (65534, 65533):  # nobody, and a second user
        first, second, folder, locks = as_user(uid, two_jobs)
        assert {first, second} == {"0", "1"}, uid
        assert folder.st_uid == uid and stat.S_IMODE(folder.st_mode) == 0o700
        assert locks == ["latentbalance-gpu-0.lock", "latentbalance-gpu-1.lock"]


@pytest.mark.skipif(not hasattr(os, "getuid") or os.getuid() != 0, reason="needs root")
def test_a_lock_folder_another_user_made_is_refused(shared_temp, monkeypatch):
    """Someone else's folder under this user's name would let them hold this user's cards."""
    os.mkdir(os.path.join(shared_temp, "latentbalance-65534"))  # made by root
    with pytest.raises(PermissionError, match="latentbalance-65534 belongs to another user"):
        as_user(65534, gpu_lock_dir)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    # the job still runs, on the cards it sees (its log says why it has no slot of its own)
    assert as_user(65534, lambda: assign_gpu(job(gpu=1))) is None


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


def test_memory_follows_the_images_and_a_job_too_large_stops_first(tmp_path):
    small, large = tmp_path / "small.npy", tmp_path / "large.npy"
    np.save(small, np.zeros((10, 1, 28, 28), np.uint8))
    np.lib.format.open_memmap(large, "w+", np.uint8, (10, 3, 224, 224))
    # a batch's memory grows with the image's bytes, not with the number of images
    assert data_memory_mb(small, 1500, 100) < 1600 < data_memory_mb(large, 1500, 100)
    job = SimpleNamespace(rule="train_classifier", resources=SimpleNamespace(mem_mb=1000))
    refuse_unfit(job)  # fits
    job.resources.mem_mb = 2 * machine_memory_mb()
    with pytest.raises(MemoryError, match="'classifier.batch_size' or the dataset's 'image_size'"):
        refuse_unfit(job)
