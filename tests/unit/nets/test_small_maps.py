"""Convolutions of small maps as matrix products compute what torch's own layers compute: in the
classifiers (``SmallMapConv2d``) and in the autoencoders (``UnfoldConv2d``,
``FoldConvTranspose2d``)."""

import pytest
import torch
from torch import nn

from latentbalance.nets.autoencoders import build_autoencoder
from latentbalance.nets.classifiers import build_resnet
from latentbalance.nets.small_maps import SmallMapConv2d, _small_enough, with_torch_layers
from latentbalance.settings.schema import allowed

STEMS = allowed("classifier.stem")


@pytest.mark.parametrize(
    "arch, stem, shape",
    [
        *[("resnet18", stem, shape) for stem in STEMS for shape in [(1, 28, 28), (3, 40, 24)]],
        ("resnet18", "compact", (3, 32, 32)),
        ("resnet50", "imagenet", (1, 28, 28)),  # bottleneck blocks
        ("resnet50", "compact", (3, 40, 24)),
    ],
)
@pytest.mark.parametrize(
    "layout", [torch.contiguous_format, torch.channels_last], ids=["nchw", "channels_last"]
)
def test_resnet_computes_what_torchvision_computes(arch, stem, shape, layout):
    """Computing maps of 2x2 pixels or less as matrix products (layer4 of a 28x28 image is 1x1
    through the ImageNet stem, 2x2 through the compact one; 40x24 gives 2x1 and 3x2 maps) changes
    neither the logits nor any gradient, and the weights load into torchvision's model; in NCHW
    and in the channels_last layout of bf16 runs (where the kernel is read in another order)."""
    import torchvision

    torch.manual_seed(0)
    ours = build_resnet(arch, shape[0], 7, stem)
    reference = getattr(torchvision.models, arch)(weights=None, num_classes=7)
    reference.conv1 = type(reference.conv1)(
        shape[0], 64, ours.conv1.kernel_size, ours.conv1.stride, ours.conv1.padding, bias=False
    )
    reference.maxpool = ours.maxpool
    reference.load_state_dict(ours.state_dict())
    # float64: at initialisation, BatchNorm over 16 images of 1x1 maps makes float32 gradients
    # differ by up to 30 % from float64 in torchvision's model alone, hiding any real error
    ours, reference = ours.double().to(memory_format=layout), reference.double()
    images, labels = torch.randn(16, *shape, dtype=torch.float64), torch.arange(16) % 7
    for model, inputs in ((ours, images.to(memory_format=layout)), (reference, images)):
        torch.nn.functional.cross_entropy(model(inputs), labels).backward()
    for (name, mine), theirs in zip(ours.named_parameters(), reference.parameters(), strict=True):
        assert (mine.grad - theirs.grad).abs().max() <= 1e-9 * theirs.grad.abs().max(), name
    with torch.no_grad():
        mine = ours.eval()(images.to(memory_format=layout))
        theirs = reference.eval()(images)
    assert (mine - theirs).abs().max() <= 1e-12 * theirs.abs().max()


@pytest.mark.parametrize("kind", ["ae", "vae"])
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 8, 8)])
@pytest.mark.parametrize(
    "layout", [torch.contiguous_format, torch.channels_last], ids=["nchw", "channels_last"]
)
def test_autoencoder_computes_what_plain_convolutions_compute(kind, shape, layout):
    """Computing the autoencoder's maps of 4x4 pixels or less as matrix products (the encoder's
    last convolution and the decoder's first two transposed ones; for an 8x8 image, padded to
    16x16, two and three) changes neither its output nor any gradient against the same network
    with torch's own Conv2d / ConvTranspose2d, in NCHW and in the channels_last layout."""
    torch.manual_seed(0)
    ours = build_autoencoder(kind, shape[0], shape[1:], 16, width=8)
    reference = with_torch_layers(ours)
    layers = [type(m) for m in reference.modules() if isinstance(m, nn.modules.conv._ConvNd)]
    assert layers == [nn.Conv2d] * 4 + [nn.ConvTranspose2d] * 4
    products = []
    for module in ours.modules():
        if isinstance(module, nn.modules.conv._ConvNd):
            module.register_forward_pre_hook(lambda m, i: products.append(_small_enough(m, i[0])))
    ours, reference = ours.double().to(memory_format=layout), reference.double()
    images = torch.rand(6, *shape, dtype=torch.float64) * 2 - 1
    outputs = [model(images.to(memory_format=layout)) for model in (ours, reference)]
    assert sum(products) == (5 if shape[1] == 8 else 3)
    assert (outputs[0] - outputs[1]).abs().max() <= 1e-12
    for output in outputs:
        (output - images).square().mean().backward()
    for (name, mine), theirs in zip(ours.named_parameters(), reference.parameters(), strict=True):
        assert (mine.grad - theirs.grad).abs().max() <= 1e-9 * theirs.grad.abs().max(), name


def test_torch_layers_replace_the_classifiers_small_map_convolutions():
    """``with_torch_layers`` gives the classifier as torchvision builds it: plain ``nn.Conv2d``
    with the same parameters, the original left as it was."""
    ours = build_resnet("resnet18", 1, 3, "compact")
    plain = with_torch_layers(ours)
    convs = [type(m) for m in plain.modules() if isinstance(m, nn.Conv2d)]
    assert convs and all(kind is nn.Conv2d for kind in convs)
    assert any(type(m) is SmallMapConv2d for m in ours.modules())
    for (name, mine), (_, theirs) in zip(
        ours.state_dict().items(), plain.state_dict().items(), strict=True
    ):
        assert torch.equal(mine, theirs), name
