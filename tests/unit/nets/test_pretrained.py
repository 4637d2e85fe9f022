"""Classifiers that start from torchvision's ImageNet weights: read from a file in torchvision's
format where torch's hub cache keeps it, fed their images as those weights expect, saved so that
they reload without the file; and what is refused before any job runs."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torchvision import models
from torchvision.transforms import Normalize

from latentbalance.nets.classifiers import build_classifier
from latentbalance.nets.model_files import load_classifier, save_model
from latentbalance.nets.pretrained import (
    FILES,
    WEIGHTS,
    check_pretrained,
    hub_dir,
    load_pretrained,
    weights_path,
)
from latentbalance.settings.recipes import ClassifierRecipe
from latentbalance.settings.schema import ConfigError, allowed
from latentbalance.stages import classifier_spec
from latentbalance.training.tensors import INPUT_SCALING

from helpers import write_imagenet_weights

GREY = SimpleNamespace(image_shape=(1, 16, 16), n_classes=3, class_names=["a", "b", "c"])
PRETRAINED = {"stem": "imagenet", "weights": "imagenet"}


@pytest.mark.parametrize("arch", allowed("architectures"))
def test_file_names_and_sizes_are_torchvisions(arch):
    weights = getattr(models.get_model_weights(arch), WEIGHTS)
    assert FILES[arch] == (Path(weights.url).name, round(weights.meta["_file_size"], 1))


@pytest.mark.parametrize(
    "env",
    [{"TORCH_HOME": "/data/torch"}, {"XDG_CACHE_HOME": "/data/cache"}, {}],
    ids=["TORCH_HOME", "XDG_CACHE_HOME", "home"],
)
def test_the_cache_is_where_torch_looks(env, monkeypatch):
    for name in ("TORCH_HOME", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert hub_dir() == Path(torch.hub.get_dir())


def pretrained_spec(dataset=GREY) -> dict:
    recipe = ClassifierRecipe.from_config(PRETRAINED)
    job = {"fold": 0, "method": "none", "arch": "resnet18", "recipe": recipe}
    labels = np.arange(30) % dataset.n_classes
    return classifier_spec(dataset, job, labels) | {"input_scaling": INPUT_SCALING}


def test_a_classifier_starts_from_the_weights_file_and_reloads_without_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    written = write_imagenet_weights(tmp_path / "torch")
    spec = pretrained_spec()
    torch.manual_seed(1)
    model = build_classifier(spec)
    load_pretrained(model, "resnet18")
    state = model.state_dict()
    assert state.keys() == written.keys()  # torchvision's network, nothing added
    for name, value in written.items():
        if name.startswith("fc."):  # a fresh last layer for this dataset's 3 classes
            assert state[name].shape[0] == 3
        else:
            assert torch.equal(state[name], value), name
    # grey images in [-1, 1] reach the ImageNet network as 3 channels in [0, 1], normalised by
    # torchvision's transform of these weights
    reference = models.resnet18()
    reference.fc = torch.nn.Linear(512, 3)
    reference.load_state_dict(state)
    images = torch.rand(4, 1, 16, 16) * 2 - 1
    imagenet = Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    with torch.no_grad():
        expected = reference.eval()((images.expand(-1, 3, -1, -1) + 1) / 2)
        expected_normalised = reference(imagenet((images.expand(-1, 3, -1, -1) + 1) / 2))
        got = model.eval()(images)
    assert torch.allclose(got, expected_normalised, atol=1e-5)
    assert not torch.allclose(got, expected, atol=1e-3)
    # saved and loaded with the weights file gone: the same network, the same outputs
    save_model(tmp_path / "model.pt", model, spec)
    weights_path("resnet18").unlink()
    loaded, saved_spec = load_classifier(tmp_path / "model.pt")
    assert saved_spec["pretrained"] == WEIGHTS
    with torch.no_grad():
        assert torch.equal(loaded(images), got)


def test_a_file_the_user_names_is_read_instead_of_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    written = write_imagenet_weights(tmp_path / "mine", seed=3)
    mine = next((tmp_path / "mine").rglob("*.pth")).rename(tmp_path / "my-resnet18.pth")
    model = build_classifier(pretrained_spec())
    load_pretrained(model, "resnet18", str(mine))
    assert torch.equal(model.state_dict()["conv1.weight"], written["conv1.weight"])


def test_a_file_of_another_network_is_refused_naming_it(tmp_path):
    wrong = tmp_path / "resnet18-f37072fd.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 3, 3)}, wrong)
    with pytest.raises(ValueError, match="holds no ImageNet weights") as error:
        load_pretrained(build_classifier(pretrained_spec()), "resnet18", str(wrong))
    assert str(wrong) in str(error.value) and "download.pytorch.org" in str(error.value)


def check(tmp_path, architectures=("resnet18",), **classifier):
    block = {"stem": "imagenet", "weights": "imagenet", "weights_file": None} | classifier
    check_pretrained(block, list(architectures))


def test_a_missing_file_names_itself_its_size_and_where_it_goes(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(ConfigError) as error:
        check(tmp_path, architectures=["resnet18", "resnet50"])
    expected = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    message = str(error.value)
    assert str(expected) in message and "44.7 MB" in message
    assert "https://download.pytorch.org/models/resnet18-f37072fd.pth" in message
    write_imagenet_weights(tmp_path / "torch")
    with pytest.raises(ConfigError, match=r"resnet50-0676ba61.pth \(97.8 MB\)"):
        check(tmp_path, architectures=["resnet18", "resnet50"])
    check(tmp_path)  # resnet18's file is there


@pytest.mark.parametrize(
    "classifier, architectures, expected",
    [
        ({"stem": "compact"}, ["resnet18"], "needs 'classifier.stem: imagenet'"),
        ({"weights_file": "w.pth"}, ["resnet18", "resnet34"], "names one file"),
        ({"weights": "none", "weights_file": "w.pth"}, ["resnet18"], "'classifier.weights' is"),
    ],
    ids=["another stem", "one file for two networks", "a file without weights"],
)
def test_settings_that_cannot_start_from_the_weights(tmp_path, classifier, architectures, expected):
    with pytest.raises(ConfigError, match=expected):
        check(tmp_path, architectures, **classifier)
