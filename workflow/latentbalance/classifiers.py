"""torchvision ResNets adapted to small images.

Stems:
- ``small``: 3x3 stride-1 convolution, no max-pool (the CIFAR ResNet stem): full resolution in
  layer1, the most accurate and about 4x the compute of ``compact``.
- ``compact``: 3x3 stride-1 convolution followed by torchvision's max-pool: layer1 at half size.
- ``imagenet``: torchvision's own 7x7 stride-2 convolution and max-pool (fastest; a 28x28 image
  reaches layer4 at 1x1).

Every 3x3 and 7x7 convolution is a ``CentreTapConv2d``: torchvision's model, parameters and
state dict as they are, with the padding taps skipped where a map has shrunk to 1x1.
"""

from __future__ import annotations

from torch import nn
from torch.nn import functional as F

ARCHITECTURES = ("resnet18", "resnet34", "resnet50", "resnet152")
STEMS = ("small", "compact", "imagenet")


class CentreTapConv2d(nn.Conv2d):
    """``nn.Conv2d`` that convolves a 1x1 map with the kernel's centre tap alone.

    With zero padding of half the kernel, every other tap of a 1x1 map falls on padding: the output
    and every gradient are those of the full kernel (the other taps get zero gradient) at 1/9 of
    the work for 3x3. 28x28 and 32x32 images reach layer4 at 1x1 through the ImageNet stem, where
    oneDNN's fp32 backward of the 3x3 convolutions was half of a training step on CPU.
    """

    def _conv_forward(self, input, weight, bias):
        rows, cols = self.kernel_size
        if (
            input.shape[-2:] == (1, 1)
            and self.padding == (rows // 2, cols // 2)
            and rows % 2 == cols % 2 == 1
            and self.dilation == (1, 1)
            and self.padding_mode == "zeros"
        ):
            centre = weight[:, :, rows // 2 : rows // 2 + 1, cols // 2 : cols // 2 + 1]
            return F.conv2d(input, centre, bias, 1, 0, 1, self.groups)
        return super()._conv_forward(input, weight, bias)


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
    for module in model.modules():
        if type(module) is nn.Conv2d and module.kernel_size != (1, 1):
            # a class swap keeps the parameters and draws no random numbers (as
            # torch.nn.utils.parametrize does), so seeded runs initialise exactly as before
            module.__class__ = CentreTapConv2d
    return model
