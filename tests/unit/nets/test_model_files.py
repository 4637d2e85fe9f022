"""Saved networks: model files that are damaged or tampered with are refused without running
their code; what a saved classifier expects and the class prior it was fitted under."""

import subprocess
from types import SimpleNamespace

import pytest
import torch

from latentbalance.nets.autoencoders import build_autoencoder
from latentbalance.nets.classifiers import CosineLinear, build_classifier, build_resnet
from latentbalance.nets.model_files import (
    check_compatible,
    check_scorable,
    load_autoencoder,
    load_classifier,
    save_model,
    training_prior,
)
from latentbalance.settings.recipes import latent_size
from latentbalance.training.tensors import INPUT_SCALING

SPEC = {
    "arch": "resnet18",
    "stem": "small",
    "in_channels": 1,
    "image_size": [8, 8],
    "n_classes": 3,
    "class_names": ["a", "b", "c"],
    "input_scaling": INPUT_SCALING,
    "fit_counts": [40, 10, 0],
    "class_weighted": False,
    "prior_corrected": False,
    "last_layer": "linear",
}


@pytest.fixture
def classifier_file(tmp_path):
    path = tmp_path / "model.pt"
    model = build_resnet("resnet18", 1, 3, "small")
    save_model(path, model, SPEC)
    return path


def test_truncated_model_file_names_it_and_says_what_to_do(classifier_file):
    assert load_classifier(classifier_file)[1]["arch"] == "resnet18"
    classifier_file.write_bytes(classifier_file.read_bytes()[:50_000])
    with pytest.raises(ValueError, match="damaged") as error:
        load_classifier(classifier_file)
    assert str(classifier_file) in str(error.value) and "rerun" in str(error.value)


class RunsCode:
    """Unpickling this runs a shell command: what a tampered model file would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.marker)],))


def test_tampered_model_file_is_refused_without_running_its_code(tmp_path):
    marker, path = tmp_path / "code-ran", tmp_path / "model.pt"
    torch.save({"spec": RunsCode(marker), "state_dict": {}}, path, pickle_protocol=2)
    with open(path, "rb") as handle:  # the payload is real: plain pickle would run it
        assert b"touch" in handle.read()
    with pytest.raises(ValueError, match="can load safely") as error:
        load_autoencoder(path)
    assert str(path) in str(error.value)
    assert not marker.exists()


def test_autoencoder_round_trip_and_deepsmote_latent_sizes(tmp_path):
    assert (latent_size(None, 1), latent_size(None, 3), latent_size(16, 3)) == (300, 600, 16)
    model = build_autoencoder("vae", 1, (8, 8), latent_dim=4, width=4).eval()
    save_model(tmp_path / "ae.pt", model, model.spec())
    again = load_autoencoder(tmp_path / "ae.pt")
    images = torch.rand(3, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        assert torch.equal(again(images), model(images))


def test_classifier_with_other_input_scaling_is_refused(tmp_path):
    path = tmp_path / "model.pt"
    save_model(path, build_resnet("resnet18", 1, 3, "small"), {**SPEC, "input_scaling": "x / 255"})
    with pytest.raises(ValueError, match="'x / 255', unknown here"):
        load_classifier(path)


def test_training_prior_is_the_fit_share_or_uniform_when_class_weighted():
    # a class the classifier never saw gets the rarest seen class's prior, not an infinite boost
    assert training_prior(SPEC).tolist() == pytest.approx([40 / 60, 10 / 60, 10 / 60])
    weighted = training_prior({**SPEC, "class_weighted": True})
    assert weighted.tolist() == pytest.approx([1 / 3] * 3)
    # a long-tail loss already learned the balanced posterior
    corrected = training_prior({**SPEC, "prior_corrected": True})
    assert corrected.tolist() == pytest.approx([1 / 3] * 3)


def test_a_cosine_classifier_loads_as_it_was_trained(tmp_path):
    """Training and loading build the network from the same spec: LDAM's cosine last layer and
    its scale come back, and the loaded model computes what the saved one did."""
    spec = {**SPEC, "last_layer": "cosine", "cosine_scale": 30.0}
    model = build_classifier(spec).eval()
    save_model(tmp_path / "model.pt", model, spec)
    loaded, loaded_spec = load_classifier(tmp_path / "model.pt")
    assert isinstance(loaded.fc, CosineLinear) and loaded.fc.scale == 30.0
    assert loaded_spec == spec
    images = torch.rand(4, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        assert torch.equal(loaded(images), model(images))
        # scaled cosines: no logit beyond the scale
        assert loaded(images).abs().max() <= 30.0 + 1e-4


def test_classifier_must_match_the_images_and_classes():
    dataset = SimpleNamespace(image_shape=(1, 8, 8), class_names=["a", "b", "c"])
    check_compatible(SPEC, dataset, "model.pt", "images.npz")
    with pytest.raises(ValueError, match=r"1x\[8, 8\] images, but images.npz holds 3x\[8, 8\]"):
        check_compatible(SPEC, SimpleNamespace(**{**vars(dataset), "image_shape": (3, 8, 8)}),
                         "model.pt", "images.npz")  # fmt: skip
    with pytest.raises(ValueError, match="trained on classes"):
        check_compatible(SPEC, SimpleNamespace(**{**vars(dataset), "class_names": ["a", "b"]}),
                         "model.pt", "images.npz")  # fmt: skip


def test_a_classifier_is_not_scored_on_another_folds_holdout():
    spec = {**SPEC, "fold": 1}
    check_scorable(spec, 1, ["test", "holdout"], "model.pt")
    check_scorable(spec, 0, ["test", "test_imbalanced"], "model.pt")
    with pytest.raises(ValueError, match="trained on fold 1: its images include fold 0's holdout"):
        check_scorable(spec, 0, ["holdout"], "model.pt")
