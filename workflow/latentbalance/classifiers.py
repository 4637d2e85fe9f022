"""torchvision ResNets adapted to small images.

Stems:
- ``small``: 3x3 stride-1 convolution, no max-pool (the CIFAR ResNet stem): full resolution in
  layer1, the most accurate and about 4x the compute of ``compact``.
- ``compact``: 3x3 stride-1 convolution followed by torchvision's max-pool: layer1 at half size.
- ``imagenet``: torchvision's own 7x7 stride-2 convolution and max-pool (fastest; a 28x28 image
  reaches layer4 at 1x1).
"""

from __future__ import annotations

from torch import nn

ARCHITECTURES = ("resnet18", "resnet34", "resnet50", "resnet152")
STEMS = ("small", "compact", "imagenet")


def build_resnet(arch: str, in_channels: int, n_classes: int, stem: str = "compact") -> nn.Module:
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown classifier {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    if stem not in STEMS:
        raise ValueError(f"unknown stem {stem!r}; choose one of {', '.join(STEMS)}")
    # imported here: torchvision takes seconds to import, and only classifier jobs need it
    from torchvision import models

    model = getattr(models, arch)(weights=None, num_classes=n_classes)
    if stem == "imagenet":
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    else:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    if stem == "small":
        model.maxpool = nn.Identity()
    return model
