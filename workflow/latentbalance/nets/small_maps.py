"""Convolutions of small feature maps as one matrix product on CPU, for both networks.

Autoencoders: ``UnfoldConv2d`` / ``FoldConvTranspose2d``. Classifiers: ``SmallMapConv2d``.

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
import functools
import itertools

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


def with_torch_layers(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with torch's own ``nn.Conv2d`` / ``nn.ConvTranspose2d`` in place of
    these (same parameters): the network as a plain PyTorch loop would run it."""
    plain = copy.deepcopy(model)
    for module in plain.modules():
        if type(module) is UnfoldConv2d:
            module.__class__ = nn.Conv2d
        elif type(module) is FoldConvTranspose2d:
            module.__class__ = nn.ConvTranspose2d
        elif type(module) is SmallMapConv2d:
            module.__class__ = nn.Conv2d
    return plain
