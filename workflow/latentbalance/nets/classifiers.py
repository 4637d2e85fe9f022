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

Last layers: ``linear`` (torchvision's) or ``cosine`` (:class:`CosineLinear`, what LDAM's margins
are measured on).

A classifier that starts from ImageNet weights (``pretrained``) takes the same [-1, 1] images as
the others: its first module, :class:`ImageNetInput`, turns them into what the weights expect.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..settings.schema import check
from .small_maps import SmallMapConv2d


def build_resnet(arch: str, in_channels: int, n_classes: int, stem: str = "compact") -> nn.Module:
    check("architectures", arch)
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


class ImageNetInput(nn.Module):
    """Images in [-1, 1] as torchvision's ImageNet weights take them: in [0, 1], grey repeated to
    three channels, normalised by torchvision's ``Normalize`` with the weights' ``mean`` and
    ``std``. Holds no state: the spec that rebuilds the network carries the numbers."""

    def __init__(self, mean: list[float], std: list[float]):
        super().__init__()
        from torchvision.transforms import Normalize

        self.normalize = Normalize(mean, std)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = (images + 1) / 2
        if images.shape[1] == 1:
            images = images.expand(-1, 3, -1, -1)
        return self.normalize(images)


def _transform_input(model: nn.Module, args: tuple) -> tuple:
    return (model.input_transform(args[0]),)


class CosineLinear(nn.Module):
    """The last layer LDAM trains with: ``scale`` times the cosine between the feature vector and
    each class's weight vector."""

    def __init__(self, in_features: int, out_features: int, scale: float):
        super().__init__()
        self.scale = scale
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        nn.init.kaiming_uniform_(self.weight, a=5**0.5)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.scale * F.normalize(features, dim=1) @ F.normalize(self.weight, dim=1).t()


def build_classifier(spec: dict) -> nn.Module:
    """The classifier a spec describes, untrained: for training and for loading a model file
    alike. ``spec``: ``arch``, ``in_channels``, ``n_classes``, ``stem`` and ``last_layer``
    (``linear``, or ``cosine`` at ``cosine_scale``); with ``input_transform`` (a classifier that
    started from ImageNet weights: ``pretrained.imagenet_input``), three input channels and an
    :class:`ImageNetInput` before them. Model files written before it have none."""
    transform = spec.get("input_transform")
    channels = 3 if transform else spec["in_channels"]
    model = build_resnet(spec["arch"], channels, spec["n_classes"], spec["stem"])
    if transform:
        # a submodule without parameters or buffers: the state dict keeps torchvision's keys
        model.input_transform = ImageNetInput(transform["mean"], transform["std"])
        model.register_forward_pre_hook(_transform_input)
    if spec["last_layer"] == "cosine":
        # replaced after torchvision initialised its linear layer: seeded runs draw as before
        model.fc = CosineLinear(model.fc.in_features, spec["n_classes"], spec["cosine_scale"])
    return model
