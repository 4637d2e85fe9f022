"""The per-epoch training checkpoint is only ever resumed by the job that wrote it."""

import numpy as np

from latentbalance.checkpoint import EpochCheckpoint, job_fingerprint

from helpers import assert_same_weights, train_resnet


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
