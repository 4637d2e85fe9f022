"""The DeepSMOTE-style convolutional autoencoder, sized from the image shape.

Encoder: four stride-2 4x4 convolutions (64, 128, 256, 512 channels by default: ``width`` is
DeepSMOTE's ``dim_h``, doubled at each step; BatchNorm after the first;
LeakyReLU 0.2) and a linear map to the latent. Decoder: the mirror image with transposed
convolutions, ReLU, and Tanh output in [-1, 1]. Images whose side is not a multiple of 16 are padded
with the background value (-1) before encoding and cropped after decoding, so 28x28, 8x8 and
32x32 inputs all work with one architecture.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

DEPTH = 4
DOWNSAMPLING = 2**DEPTH


def padded_size(side: int) -> int:
    return -(-side // DOWNSAMPLING) * DOWNSAMPLING


class ConvAutoencoder(nn.Module):
    def __init__(
        self, in_channels: int, image_size: tuple[int, int], latent_dim: int, width: int = 64
    ):
        super().__init__()
        self.in_channels = in_channels
        self.image_size = tuple(image_size)
        self.latent_dim = latent_dim
        self.width = width
        widths = [width * 2**i for i in range(DEPTH)]
        height, width = self.image_size
        self.padded = (padded_size(height), padded_size(width))
        self.bottleneck = (
            widths[-1],
            self.padded[0] // DOWNSAMPLING,
            self.padded[1] // DOWNSAMPLING,
        )
        flat = widths[-1] * self.bottleneck[1] * self.bottleneck[2]

        layers: list[nn.Module] = []
        channels = in_channels
        for i, width_out in enumerate(widths):
            layers.append(nn.Conv2d(channels, width_out, 4, 2, 1, bias=False))
            if i > 0:
                layers.append(nn.BatchNorm2d(width_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            channels = width_out
        self.encoder = nn.Sequential(*layers, nn.Flatten(), nn.Linear(flat, latent_dim))

        self.project = nn.Sequential(nn.Linear(latent_dim, flat), nn.ReLU(inplace=True))
        layers = []
        for width_in, width_out in zip(widths[::-1], widths[-2::-1], strict=False):
            layers += [
                nn.ConvTranspose2d(width_in, width_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width_out),
                nn.ReLU(inplace=True),
            ]
        layers += [nn.ConvTranspose2d(widths[0], in_channels, 4, 2, 1), nn.Tanh()]
        self.decoder = nn.Sequential(*layers)

    def _pad(self, images: torch.Tensor) -> torch.Tensor:
        height, width = self.image_size
        dh, dw = self.padded[0] - height, self.padded[1] - width
        if dh == dw == 0:
            return images
        return F.pad(images, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2), value=-1.0)

    def _crop(self, images: torch.Tensor) -> torch.Tensor:
        height, width = self.image_size
        top = (self.padded[0] - height) // 2
        left = (self.padded[1] - width) // 2
        return images[:, :, top : top + height, left : left + width]

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        return self.encoder(self._pad(images))

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        features = self.project(latents).view(-1, *self.bottleneck)
        return self._crop(self.decoder(features))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))

    def spec(self) -> dict:
        """What it takes to rebuild this model (saved beside the weights)."""
        return {
            "in_channels": self.in_channels,
            "image_size": list(self.image_size),
            "latent_dim": self.latent_dim,
            "width": self.width,
        }


AUTOENCODERS = ("ae",)


def build_autoencoder(
    kind: str, in_channels: int, image_size, latent_dim: int, width: int = 64
) -> ConvAutoencoder:
    if kind not in AUTOENCODERS:
        raise ValueError(f"unknown autoencoder {kind!r}; choose one of {', '.join(AUTOENCODERS)}")
    return ConvAutoencoder(in_channels, image_size, latent_dim, width)
