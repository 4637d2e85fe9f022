"""`classifier.weights: imagenet` in a real run: the classifiers start from the weights file in the
torch hub cache (a file the test writes in torchvision's format), their saved models are scored
again after the file is gone; without the file the run stops before any job, naming the file, its
size and where to put it."""

import json

import pytest
import torch

from helpers import (
    TINY_CONFIG,
    copy_workflow,
    latentbalance,
    snakemake,
    write_config,
    write_imagenet_weights,
)

pytestmark = pytest.mark.workflow

PRETRAINED = {
    **TINY_CONFIG,
    "methods": ["none"],
    "run_folds": [0],
    "testsets": ["test"],
    "classifier": {"stem": "imagenet", "weights": "imagenet", "epochs": 1, "batch_size": 32},
}
MODEL = "results/digits/fold0/classifier/none/resnet18"


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1].item()


def test_classifiers_start_from_the_imagenet_weights_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    written = write_imagenet_weights(tmp_path / "torch", seed=11)
    (workdir := tmp_path / "run").mkdir()
    copy_workflow(workdir)
    snakemake(workdir, "--configfile", str(write_config(workdir / "run.yaml", PRETRAINED)))
    saved = torch.load(workdir / MODEL / "model.pt", weights_only=True)
    assert saved["spec"]["pretrained"] == "IMAGENET1K_V1"
    # one epoch of fine-tuning moves the weights a little: they are still the file's, and
    # unrelated to a network drawn afresh
    other = write_imagenet_weights(tmp_path / "other", seed=12)
    for name in ("conv1.weight", "layer1.0.conv1.weight", "layer4.1.conv2.weight"):
        assert correlation(saved["state_dict"][name], written[name]) > 0.9, name
        assert abs(correlation(saved["state_dict"][name], other[name])) < 0.2, name
    # the saved classifier is scored again without the weights file: as the workflow scored it
    next((tmp_path / "torch").rglob("*.pth")).unlink()
    data = workdir / "results/digits/data/images.npy"
    run = latentbalance(
        "evaluate", "--model", str(workdir / MODEL), "--data", str(data), cwd=workdir
    )
    assert run.returncode == 0, run.stderr
    metrics = json.loads(
        (workdir / MODEL.replace("classifier", "eval") / "test/metrics.json").read_text()
    )
    assert json.loads(run.stdout)["acsa"] == pytest.approx(metrics["acsa"])


def test_without_the_weights_file_the_run_stops_naming_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    workdir = copy_workflow(tmp_path)
    config = write_config(tmp_path / "run.yaml", PRETRAINED)
    result = snakemake(workdir, "--configfile", str(config), check=False, timeout=120)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    expected = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert str(expected) in message and "44.7 MB" in message
    assert "ConfigError in file" in message and "Traceback" not in message
    assert not (workdir / "results").exists()
