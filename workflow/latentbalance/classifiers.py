"""torchvision ResNets adapted to small images.

Stems:
- ``small``: 3x3 stride-1 convolution, no max-pool (the CIFAR ResNet stem): full resolution in
  layer1, the most accurate and about 4x the compute of ``compact``.
- ``compact``: 3x3 stride-1 convolution followed by torchvision's max-pool: layer1 at half size.
- ``imagenet``: torchvision's own 7x7 stride-2 convolution and max-pool (fastest; a 28x28 image
  reaches layer4 at 1x1).

Every 3x3 and 7x7 convolution is a ``SmallMapConv2d``: torchvision's model, parameters and
state dict as they are, with the padding taps skipped where a map has shrunk to 2x2 or less.
"""

from __future__ import annotations

import functools
import itertools

import torch
from torch import nn
from torch.nn import functional as F

ARCHITECTURES = ("resnet18", "resnet34", "resnet50", "resnet152")
STEMS = ("small", "compact", "imagenet")


@functools.cache
def _tap_index(in_size, kernel_size, stride, padding):
    """For every (output pixel, input pixel) pair of a convolution, the flat index of the kernel
    tap that joins them, or ``kh * kw`` (a zero tap appended to the kernel) where none does; the
    output size; whether a tap joins every pair."""
    (h, w), (kh, kw), (sh, sw), (ph, pw) = in_size, kernel_size, stride, padding
    out_h, out_w = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    taps = torch.full((out_h, out_w, h, w), kh * kw, dtype=torch.long)
    for i, j, a, b in itertools.product(range(out_h), range(out_w), range(h), range(w)):
        row, col = a + ph - i * sh, b + pw - j * sw
        if 0 <= row < kh and 0 <= col < kw:
            taps[i, j, a, b] = row * kw + col
    return taps.flatten(), (out_h, out_w), bool((taps < kh * kw).all())


class SmallMapConv2d(nn.Conv2d):
    """``nn.Conv2d`` that computes a map of at most 2x2 pixels as one matrix product (on CPU).

    On such maps most taps of a padded 3x3 kernel fall on the padding: a 3x3 convolution of a 2x2
    map joins 16 (output, input) pixel pairs but does the work of 36, a 1x1 map uses only the
    centre tap. 28x28 and 32x32 images reach layer4 at 1x1 (ImageNet stem) or 2x2 (compact stem),
    and there oneDNN's fp32 backward took half of a training step. The kernel's taps are arranged
    into the dense matrix from the map's input pixels to its output pixels (zeros where no tap
    joins them), so outputs and every gradient are the convolution's own, at the useful work.
    """

    def _conv_forward(self, input, weight, bias):
        height, width = input.shape[-2:]
        if (
            height * width > 4
            or input.device.type != "cpu"
            or self.groups != 1
            or self.dilation != (1, 1)
            or self.padding_mode != "zeros"
            or isinstance(self.padding, str)
        ):
            return super()._conv_forward(input, weight, bias)
        taps, (out_h, out_w), all_joined = _tap_index(
            (height, width), self.kernel_size, self.stride, self.padding
        )
        out_channels = len(weight)
        # the kernel as (output channel, tap, input channel): a view of a channels_last weight
        # (bf16 runs); flattening it the NCHW way copied it with a transposing stride, twice
        # per step (forward and backward), and for layer4's 512x512 kernels that took a fifth
        # of a training step
        channels_last = not weight.is_contiguous()
        if channels_last:
            taps_by_channel = weight.permute(0, 2, 3, 1).flatten(1, 2)
        if out_h == out_w == 1 and all_joined:
            # one output pixel, joined to every input pixel: a block of the kernel
            if channels_last:  # columns (input pixel, input channel)
                block = taps_by_channel.index_select(1, taps).flatten(1)
                pixels = input.permute(0, 2, 3, 1).flatten(1)
            else:  # columns (input channel, input pixel)
                block = weight.flatten(2).index_select(2, taps).flatten(1)
                pixels = input.flatten(1)
            return F.linear(pixels, block, bias).view(-1, out_channels, 1, 1)
        # rows (output channel, output pixel), columns (input pixel, input channel); the zero
        # tap appended for the pairs no tap joins
        if channels_last:
            kernel = F.pad(taps_by_channel, (0, 0, 0, 1))
        else:
            kernel = F.pad(weight.flatten(2), (0, 1)).transpose(1, 2)
        dense = kernel.index_select(1, taps).view(out_channels * out_h * out_w, -1)
        if bias is not None:
            bias = bias.repeat_interleave(out_h * out_w)
        pixels = input.flatten(2).transpose(1, 2).flatten(1)
        return F.linear(pixels, dense, bias).view(-1, out_channels, out_h, out_w)


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
            module.__class__ = SmallMapConv2d
    return model
