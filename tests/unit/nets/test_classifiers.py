"""The ResNet classifiers on small images, their last layers, and the choices they refuse. (Their
small-map convolutions: test_small_maps.py.)"""

import math

import pytest
import torch

from latentbalance.nets.classifiers import CosineLinear, build_classifier, build_resnet
from latentbalance.settings.schema import allowed

STEMS = allowed("classifier.stem")


@pytest.mark.parametrize("stem", STEMS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
def test_resnet_accepts_small_images(stem, shape):
    model = build_resnet("resnet18", shape[0], 7, stem).eval()
    with torch.no_grad():
        logits = model(torch.randn(2, *shape))
    assert logits.shape == (2, 7)


def test_unknown_classifier_names_the_valid_ones():
    with pytest.raises(ValueError, match="resnet18"):
        build_resnet("vgg16", 1, 10)


def test_cosine_layer_gives_scaled_cosines():
    layer = CosineLinear(4, 2, scale=30.0)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 2.0, 0, 0]]))
    out = layer(torch.tensor([[3.0, 3.0, 0, 0]]))
    assert out.detach().numpy().ravel() == pytest.approx([30 / math.sqrt(2)] * 2, rel=1e-5)


def test_a_spec_builds_its_last_layer_and_seeded_builds_agree():
    spec = {"arch": "resnet18", "in_channels": 1, "n_classes": 3, "stem": "small"}
    assert isinstance(build_classifier({**spec, "last_layer": "linear"}).fc, torch.nn.Linear)
    cosine = {**spec, "last_layer": "cosine", "cosine_scale": 10.0}
    torch.manual_seed(0)
    first = build_classifier(cosine)
    torch.manual_seed(0)
    again = build_classifier(cosine)
    assert isinstance(first.fc, CosineLinear) and first.fc.scale == 10.0
    # the same seed, the same starting weights: what makes reruns exact
    assert all(
        torch.equal(a, b)
        for a, b in zip(first.state_dict().values(), again.state_dict().values(), strict=True)
    )
