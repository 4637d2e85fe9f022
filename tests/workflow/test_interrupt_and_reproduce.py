"""A run killed mid-training resumes and reproduces an uninterrupted run byte for byte on the CPU
(CUDA promises that only for the same card, driver and torch, so these runs pin the CPU); one seed
drives every random choice."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from helpers import TINY_CONFIG, copy_workflow, snakemake, write_config

pytestmark = pytest.mark.workflow

# The tiny run restricted to fold 0 and smote-ae, on the CPU: its jobs have the same settings as
# the corresponding jobs of a CPU run of the session's tiny run, so their outputs must be identical.
ON_CPU = {**TINY_CONFIG["compute"], "device": "cpu"}
FOLD0_SMOTE = {
    **TINY_CONFIG,
    "run_folds": [0],
    "methods": ["smote-ae"],
    "testsets": ["test"],
    # a checkpoint after every epoch, so that the kill lands mid-training
    "compute": {**ON_CPU, "checkpoint_minutes": 0},
}
EVALUATION = "results/digits/fold0/eval/smote-ae/resnet18/test"


def cpu_reference(tiny_run, tmp_path):
    """An uninterrupted CPU run of FOLD0_SMOTE's jobs: the session's tiny run where it ran on the
    CPU, else (on a GPU host) this test's own run."""
    reference = tiny_run[0]
    metrics = json.loads((reference / EVALUATION / "metrics.json").read_text())
    if metrics["environment"]["training"]["device"] == "cpu":
        return reference
    workdir = tmp_path / "reference"
    workdir.mkdir()
    copy_workflow(workdir)
    snakemake(workdir, "--configfile", str(write_config(workdir / "fold0.yaml", FOLD0_SMOTE)))
    return workdir


def without_cpu_fallback(record):
    """A metrics record without the note of why ``compute.device: auto`` ran on the CPU."""
    if isinstance(record, dict):
        return {k: without_cpu_fallback(v) for k, v in record.items() if k != "cpu_fallback"}
    return record


def kill_when_training(workdir, config, checkpoint, timeout=600):
    """Start snakemake and SIGKILL it and its jobs (a node failure) as soon as the training job
    has written its first per-epoch checkpoint."""
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", str(config)]
    process = subprocess.Popen(
        command,
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    while not (workdir / checkpoint).exists():
        assert process.poll() is None, f"snakemake ended before {checkpoint} appeared"
        assert time.monotonic() < deadline, f"no {checkpoint} after {timeout} s"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def test_killed_training_resumes_and_matches_an_uninterrupted_run(tiny_run, tmp_path):
    reference = cpu_reference(tiny_run, tmp_path)
    workdir = copy_workflow(tmp_path)
    config = write_config(tmp_path / "fold0.yaml", FOLD0_SMOTE)
    results = workdir / "results" / "digits"
    logs = results / "logs" / "fold0"

    kill_when_training(
        workdir, config, "results/digits/checkpoints/fold0/autoencoder-ae-nopenalty.pt"
    )
    assert not (results / "fold0" / "autoencoder" / "ae-nopenalty" / "model.pt").exists()
    snakemake(workdir, "--unlock", "--configfile", str(config))
    kill_when_training(
        workdir, config, "results/digits/checkpoints/fold0/classifier-smote-ae-resnet18.pt"
    )
    assert not (results / "fold0" / "classifier" / "smote-ae" / "resnet18" / "model.pt").exists()
    snakemake(workdir, "--unlock", "--configfile", str(config))
    snakemake(workdir, "--configfile", str(config), "--rerun-incomplete")

    # both training jobs continued from their checkpoints instead of starting over
    autoencoder_log = (logs / "train_autoencoder" / "ae-nopenalty.log").read_text()
    classifier_log = (logs / "train_classifier" / "smote-ae-resnet18.log").read_text()
    assert "resuming from checkpoint" in autoencoder_log
    assert "resuming from checkpoint" in classifier_log
    assert not list((results / "checkpoints").rglob("*.pt")), "checkpoints left behind"

    # and ended exactly where the uninterrupted run ended
    for name in ["predictions.csv", "per_class.csv"]:
        resumed = (workdir / EVALUATION / name).read_bytes()
        assert resumed == (reference / EVALUATION / name).read_bytes(), name
    # the same metrics and environment, but for the note that the reference's device 'auto' found
    # no GPU (this run names the CPU)
    resumed, uninterrupted = (
        json.loads((d / EVALUATION / "metrics.json").read_text()) for d in (workdir, reference)
    )
    assert without_cpu_fallback(resumed) == without_cpu_fallback(uninterrupted)
    for model in [
        "fold0/autoencoder/ae-nopenalty/history.csv",
        "fold0/classifier/smote-ae/resnet18/history.csv",
    ]:
        resumed = (results / model).read_bytes()
        assert resumed == (reference / "results" / "digits" / model).read_bytes(), model


def test_other_seed_changes_the_split_and_the_results(tiny_run, tmp_path):
    reference, _, _ = tiny_run
    workdir = copy_workflow(tmp_path)
    other_seed = {**TINY_CONFIG, "seed": TINY_CONFIG["seed"] + 1}
    other_seed.update(run_folds=[0], methods=["none"], testsets=["test"], compute=ON_CPU)
    snakemake(workdir, "--configfile", str(write_config(tmp_path / "seed.yaml", other_seed)))
    for name in ["split/split.npz", "fold0/eval/none/resnet18/test/predictions.csv"]:
        ours = (workdir / "results" / "digits" / name).read_bytes()
        assert ours != (reference / "results" / "digits" / name).read_bytes(), name
