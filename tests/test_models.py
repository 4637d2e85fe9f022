import pytest
import torch

from latentbalance.autoencoders import build_autoencoder
from latentbalance.classifiers import STEMS, build_resnet


@pytest.mark.parametrize(
    "shape, latent", [((1, 28, 28), 300), ((1, 8, 8), 16), ((3, 32, 32), 600), ((3, 64, 48), 32)]
)
def test_autoencoder_reconstructs_the_input_shape(shape, latent):
    model = build_autoencoder("ae", shape[0], shape[1:], latent).eval()
    images = torch.rand(4, *shape) * 2 - 1
    with torch.no_grad():
        codes = model.encode(images)
        decoded = model.decode(codes)
    assert codes.shape == (4, latent)
    assert decoded.shape == images.shape
    assert decoded.min() >= -1 and decoded.max() <= 1


def test_autoencoder_architecture_is_deepsmote_style():
    model = build_autoencoder("ae", 1, (28, 28), 300)
    convs = [m for m in model.encoder if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512]
    assert all(c.stride == (2, 2) for c in convs)


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
