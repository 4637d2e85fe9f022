"""torchvision ResNets adapted to small images.

Stems:
- ``small``: 3x3 stride-1 convolution, no max-pool (the CIFAR ResNet stem): full resolution in
  layer1, the most accurate and about 4x the compute of ``compact``.
- ``compact``: 3x3 stride-1 convolution followed by torchvision's max-pool: layer1 at half size.
- ``imagenet``: torchvision's own 7x7 stride-2 convolution and max-pool (fastest; a 28x28 image
  reaches layer4 at 1x1).

Every 3x3 and 7x7 convolution is a ``small_maps.SmallMapConv2d``: torchvision's model,
parameters and state dict as they are, with the padding taps skipped where a map has shrunk to
2x2 or less.
"""

from __future__ import annotations

from torch import nn

from ..settings.schema import check
from .small_maps import SmallMapConv2d


def build_resnet(arch: str, in_channels: int, n_classes: int, stem: str = "compact") -> nn.Module:
    check("classifiers", arch)
    # imported here: torchvision takes seconds to import, and only classifier jobs need it
    from torchvision import models

    model = getattr(models, arch)(weights=None, num_classes=n_classes)
    if stem == "imagenet":
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    else:
        model.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    if stem == "small":
        model.maxpool = nn.Identity()
    for module in model.modules():
        if type(module) is nn.Conv2d and module.kernel_size != (1, 1):
            # a class swap keeps the parameters and draws no random numbers (as
            # torch.nn.utils.parametrize does), so seeded runs initialise exactly as before
            module.__class__ = SmallMapConv2d
    return model
