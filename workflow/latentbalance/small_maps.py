"""Convolutions of small feature maps as one matrix product, for the autoencoders on CPU.

DeepSMOTE's autoencoder halves a 28x28 or 32x32 image four times: its deepest convolution maps
4x4 pixels of 256 channels to 2x2 of 512, and the decoder's first transposed convolution maps them
back. On such maps oneDNN's convolution backward runs far below the CPU's matrix-product speed
(on a 2-core Xeon with AMX in bf16, these two layers took half of an autoencoder training step).
Unfolded into patches (``F.unfold`` / ``F.fold``, the same arithmetic), each becomes a single
matrix product over the whole batch, whose forward and backward run at the matrix-product speed.
The modules keep ``nn.Conv2d``'s and ``nn.ConvTranspose2d``'s parameters and state dicts, and
fall back to them on larger maps, on GPUs and for options the product does not cover.
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

# input maps up to 4x4: measured faster as a product; from 8x8 on, oneDNN's convolution is
SMALL_MAP_PIXELS = 16


def _small_enough(module, input: torch.Tensor) -> bool:
    return (
        input.device.type == "cpu"
        and input.dim() == 4
        and input.shape[-2] * input.shape[-1] <= SMALL_MAP_PIXELS
        and module.groups == 1
        and module.dilation == (1, 1)
        and module.padding_mode == "zeros"
        and not isinstance(module.padding, str)
    )


def _like_input(output: torch.Tensor, input: torch.Tensor) -> torch.Tensor:
    """Keep channels_last (the bf16 runs' layout) for the layers that follow."""
    if input.is_contiguous(memory_format=torch.channels_last) and not input.is_contiguous():
        return output.contiguous(memory_format=torch.channels_last)
    return output


class UnfoldConv2d(nn.Conv2d):
    """``nn.Conv2d`` that computes a map of at most 4x4 input pixels as patches x kernel."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not _small_enough(self, input):
            return super().forward(input)
        batch, _, height, width = input.shape
        out_h, out_w = (
            (size + 2 * pad - kernel) // stride + 1
            for size, pad, kernel, stride in zip(
                (height, width), self.padding, self.kernel_size, self.stride, strict=True
            )
        )
        patches = F.unfold(input, self.kernel_size, padding=self.padding, stride=self.stride)
        output = torch.matmul(self.weight.flatten(1), patches)  # (batch, out, out pixels)
        if self.bias is not None:
            output = output + self.bias[:, None]
        return _like_input(output.view(batch, -1, out_h, out_w), input)


class FoldConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` that computes a map of at most 4x4 input pixels as kernel x pixels,
    overlap-added into the output (``F.fold``)."""

    def forward(self, input: torch.Tensor, output_size=None) -> torch.Tensor:
        if output_size is not None or any(self.output_padding) or not _small_enough(self, input):
            return super().forward(input, output_size)
        height, width = input.shape[-2:]
        out_h, out_w = (
            (size - 1) * stride - 2 * pad + kernel
            for size, pad, kernel, stride in zip(
                (height, width), self.padding, self.kernel_size, self.stride, strict=True
            )
        )
        # (in, out * taps)^T x (batch, in, pixels): every input pixel's contribution per tap
        patches = torch.matmul(self.weight.flatten(1).t(), input.flatten(2))
        output = F.fold(
            patches, (out_h, out_w), self.kernel_size, padding=self.padding, stride=self.stride
        )
        if self.bias is not None:
            output = output + self.bias[:, None, None]
        return _like_input(output, input)


def with_torch_layers(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with torch's own ``nn.Conv2d`` / ``nn.ConvTranspose2d`` in place of
    these (same parameters): the network as a plain PyTorch loop would run it."""
    plain = copy.deepcopy(model)
    for module in plain.modules():
        if type(module) is UnfoldConv2d:
            module.__class__ = nn.Conv2d
        elif type(module) is FoldConvTranspose2d:
            module.__class__ = nn.ConvTranspose2d
    return plain
