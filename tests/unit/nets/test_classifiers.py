"""The ResNet classifiers on small images, and the choices they refuse. (Their small-map
convolutions: test_small_maps.py.)"""

import pytest
import torch

from latentbalance.nets.classifiers import build_resnet
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
