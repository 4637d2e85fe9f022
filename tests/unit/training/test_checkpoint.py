"""The per-epoch training checkpoint is only ever resumed by the job that wrote it."""

import logging

import numpy as np
import torch

from latentbalance.settings.recipes import Compute
from latentbalance.training.checkpoint import (
    EpochCheckpoint,
    job_checkpoint,
    job_fingerprint,
    rng_state,
    set_rng_state,
)
from latentbalance.training.runtime import Precision

from helpers import assert_same_weights, train_resnet

COMPUTE = Compute.from_config({"device": "cpu"})


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


def test_checkpoint_of_an_older_training_loop_is_ignored(tmp_path, caplog):
    """A job killed before an upgrade and rerun after it starts anew: the older loop's state
    (best validation loss instead of score) is never read into the new one."""
    path = tmp_path / "state.pt"
    train_resnet(1, EpochCheckpoint(path, "settings A"))
    older = torch.load(path, weights_only=True)
    del older["format"]
    older["loop"] = {"history": older["loop"]["history"], "best_loss": 0.1, "stale": 0}
    torch.save(older, path)
    assert EpochCheckpoint(path, "settings A").restore() is None
    assert "older version of the training loop" in caplog.text
    model, history = train_resnet(2, EpochCheckpoint(path, "settings A"))
    reference, reference_history = train_resnet(2)
    assert history == reference_history
    assert_same_weights(model, reference)


def test_fingerprint_changes_with_any_setting_or_training_image():
    images, labels = np.zeros((4, 1, 2, 2), np.uint8), np.arange(4)
    settings = {"fold": 0, "recipe": {"lr": 0.01, "augment": {"flip": False}}}
    same = job_fingerprint(dict(reversed(settings.items())), images, labels)
    assert job_fingerprint(settings, images, labels) == same  # key order does not matter
    changed = {**settings, "recipe": {"lr": 0.01, "augment": {"flip": True}}}
    assert job_fingerprint(changed, images, labels) != same
    other_image = images.copy()
    other_image[3, 0, 1, 1] = 1
    assert job_fingerprint(settings, other_image, labels) != same


def test_checkpoint_resumes_only_on_the_device_and_precision_it_ran_on(tmp_path, caplog):
    """Keyed on what ran, not on what was asked ("auto"): a job killed on a bf16 node and rerun
    where it computes in fp32 (or the reverse) starts anew instead of loading Adam moments and
    weights of another layout."""
    path, cpu, settings = tmp_path / "state.pt", torch.device("cpu"), {"fold": 0, "seed": 7}
    images, labels = np.zeros((4, 1, 2, 2), np.uint8), np.arange(4)
    fp32 = Precision(cpu, "fp32")
    train_resnet(1, job_checkpoint(path, settings, COMPUTE, fp32, images, labels))

    caplog.set_level(logging.INFO)
    bf16 = job_checkpoint(path, settings, COMPUTE, Precision(cpu, "bf16"), images, labels)
    assert bf16.restore() is None
    assert "made on cpu/fp32 and this job runs on cpu/bf16" in caplog.text
    assert str(path) in caplog.text
    # the same job on the same kind of node resumes
    again = job_checkpoint(path, settings, COMPUTE, Precision(cpu, "fp32"), images, labels)
    assert again.restore()["epoch"] == 1
    # "auto" that resolved to the same device resumes; other compute settings are another job
    auto = Compute.from_config({"device": "auto"})
    assert job_checkpoint(path, settings, auto, fp32, images, labels).restore()["epoch"] == 1
    loose = Compute.from_config({"device": "cpu", "deterministic": False})
    assert job_checkpoint(path, settings, loose, fp32, images, labels).restore() is None


def test_a_checkpoint_made_on_one_card_is_not_resumed_on_another(tmp_path, caplog):
    """A job preempted on an A100 and rerun on an H100 starts anew: the key names the card and
    its compute capability (``card`` stands in for the one CUDA would name)."""
    path, settings = tmp_path / "state.pt", {"fold": 0, "seed": 7}
    images, labels = np.zeros((4, 1, 2, 2), np.uint8), np.arange(4)
    on_cuda = Compute.from_config({"device": "cuda"})
    fp32 = Precision(torch.device("cuda"), "fp32")  # made without touching CUDA
    a100, h100 = "NVIDIA A100-SXM4-80GB sm_80", "NVIDIA H100 80GB HBM3 sm_90"

    def on(card, compute=on_cuda):
        return job_checkpoint(path, settings, compute, fp32, images, labels, card=card)

    on(a100).save(epoch=1)
    caplog.set_level(logging.INFO)
    assert on(h100).restore() is None
    assert f"made on cuda/{a100}/fp32 and this job runs on cuda/{h100}/fp32" in caplog.text
    assert on(a100).restore()["epoch"] == 1
    # how often it saves is no part of the key
    hourly = Compute.from_config({"device": "cuda", "checkpoint_minutes": 60})
    assert on(a100, hourly).restore()["epoch"] == 1


def test_rng_state_of_more_gpus_restores_on_fewer(monkeypatch, caplog):
    """A state saved on a node with 4 GPUs resumes where 2 are visible: those two are restored."""
    generator = torch.Generator().manual_seed(1)
    state = rng_state(generator)
    state["cuda"] = [torch.full((16,), card, dtype=torch.uint8) for card in range(4)]
    restored = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_rng_state", lambda s, device: restored.update({device: s}))
    caplog.set_level(logging.INFO)
    set_rng_state(generator, state)
    assert sorted(restored) == [0, 1]
    assert torch.equal(restored[1], state["cuda"][1])
    assert "RNG state of 2 of 4 saved GPUs" in caplog.text
