"""The DeepSMOTE-style convolutional autoencoders (AE, VAE, WAE), sized from the image shape.

Encoder: four stride-2 4x4 convolutions (64, 128, 256, 512 channels by default: ``width`` is
DeepSMOTE's ``dim_h``, doubled at each step; BatchNorm after the first;
LeakyReLU 0.2) and a linear map to the latent. Decoder: the mirror image with transposed
convolutions, ReLU, and Tanh output in [-1, 1]. Images whose side is not a multiple of 16 are padded
with the background value (-1) before encoding and cropped after decoding, so 28x28, 8x8 and
32x32 inputs all work with one architecture. Convolutions of maps of 4x4 pixels or less run as one
matrix product over the batch on CPU (``small_maps``: same parameters, same arithmetic, faster).

Kinds (one backbone, different latent regularisation; losses in ``autoencoder_losses``):
- ``ae``: plain reconstruction (MSE).
- ``vae``: Gaussian encoder (mean, log-variance), reparameterisation, KL to N(0, I) weighted by
  beta. Oversampling uses the posterior means.
- ``wae``: Wasserstein autoencoder (Tolstikhin et al. 2018), MMD with an inverse multiquadratic
  kernel between the encoded batch and N(0, I) samples, weighted by lambda on the paper's scale.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional as F

from ..settings.schema import check
from .small_maps import FoldConvTranspose2d, UnfoldConv2d

DEPTH = 4
DOWNSAMPLING = 2**DEPTH


def padded_size(side: int) -> int:
    return -(-side // DOWNSAMPLING) * DOWNSAMPLING


class ConvAutoencoder(nn.Module):
    def __init__(
        self,
        in_channels: int,
        image_size: tuple[int, int],
        latent_dim: int,
        width: int = 64,
        kind: str = "ae",
    ):
        super().__init__()
        self.kind = kind
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
            layers.append(UnfoldConv2d(channels, width_out, 4, 2, 1, bias=False))
            if i > 0:
                layers.append(nn.BatchNorm2d(width_out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            channels = width_out
        # a VAE's encoder gives a mean and a log-variance per latent dimension
        outputs = 2 * latent_dim if kind == "vae" else latent_dim
        self.encoder = nn.Sequential(*layers, nn.Flatten(), nn.Linear(flat, outputs))

        self.project = nn.Sequential(nn.Linear(latent_dim, flat), nn.ReLU(inplace=True))
        layers = []
        for width_in, width_out in zip(widths[::-1], widths[-2::-1], strict=False):
            layers += [
                FoldConvTranspose2d(width_in, width_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(width_out),
                nn.ReLU(inplace=True),
            ]
        layers += [FoldConvTranspose2d(widths[0], in_channels, 4, 2, 1), nn.Tanh()]
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

    def encode_distribution(self, images: torch.Tensor):
        """VAE: (mean, log-variance) of the Gaussian posterior."""
        mean, log_var = self.encoder(self._pad(images)).chunk(2, dim=1)
        return mean, log_var

    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """The latent code (a VAE's posterior mean): what oversampling interpolates."""
        if self.kind == "vae":
            return self.encode_distribution(images)[0]
        return self.encoder(self._pad(images))

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        features = self.project(latents).view(-1, *self.bottleneck)
        return self._crop(self.decoder(features))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))

    def spec(self) -> dict:
        """What it takes to rebuild this model (saved beside the weights)."""
        return {
            "kind": self.kind,
            "in_channels": self.in_channels,
            "image_size": list(self.image_size),
            "latent_dim": self.latent_dim,
            "width": self.width,
        }


def build_autoencoder(
    kind: str, in_channels: int, image_size, latent_dim: int, width: int = 64
) -> ConvAutoencoder:
    check("methods.grid.autoencoders", kind)
    return ConvAutoencoder(in_channels, image_size, latent_dim, width, kind)


def gaussian_kl(mean: torch.Tensor, log_var: torch.Tensor) -> torch.Tensor:
    """KL(N(mean, exp(log_var)) || N(0, I)), summed over dimensions, averaged over the batch."""
    return (-0.5 * (1 + log_var - mean.pow(2) - log_var.exp()).sum(dim=1)).mean()


def imq_mmd(codes: torch.Tensor, prior: torch.Tensor, scales=(0.1, 0.2, 0.5, 1, 2, 5, 10)):
    """Unbiased MMD^2 with inverse multiquadratic kernels C / (C + |x - y|^2), C = 2 d s
    for several scales s (Tolstikhin et al. 2018, prior N(0, I))."""
    n, dim = codes.shape
    if n < 2:
        return codes.new_zeros(())
    off_diagonal = 1 - torch.eye(n, device=codes.device, dtype=codes.dtype)
    distances = {
        "qq": torch.cdist(codes, codes).pow(2),
        "pp": torch.cdist(prior, prior).pow(2),
        "qp": torch.cdist(codes, prior).pow(2),
    }
    total = codes.new_zeros(())
    for scale in scales:
        c = 2.0 * dim * scale
        kernel = {key: c / (c + d) for key, d in distances.items()}
        total = total + ((kernel["qq"] + kernel["pp"]) * off_diagonal).sum() / (n * (n - 1))
        total = total - 2 * kernel["qp"].mean()
    return total


def autoencoder_losses(
    model: ConvAutoencoder, images: torch.Tensor, kl_weight: float = 1.0, mmd_weight: float = 10.0
) -> dict[str, torch.Tensor]:
    """The training loss terms of one batch, already weighted; their sum is the loss.

    ``recon`` is the per-pixel MSE, the same for every kind (the penalty's lambda means the same
    for all). The other terms are divided by the pixels per image, the factor between that MSE
    and the per-image sum of squared errors their weights are set against: ``kl_weight = 1`` is
    the usual ELBO balance, and ``mmd_weight`` is Tolstikhin et al.'s lambda (10 in the paper)
    beside a squared-error cost summed over each image's pixels.
    """
    pixels = images[0].numel()
    if model.kind == "vae":
        mean, log_var = model.encode_distribution(images)
        codes = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
        recon = F.mse_loss(model.decode(codes).float(), images)
        return {
            "recon": recon,
            "kl": kl_weight * gaussian_kl(mean.float(), log_var.float()) / pixels,
        }
    codes = model.encode(images)
    recon = F.mse_loss(model.decode(codes).float(), images)
    if model.kind == "wae":
        codes = codes.float()
        mmd = imq_mmd(codes, torch.randn_like(codes))
        return {"recon": recon, "mmd": mmd_weight * mmd / pixels}
    return {"recon": recon}


@contextmanager
def frozen_batchnorm_statistics(model: nn.Module):
    """BatchNorm still normalises with the batch's own statistics, but its running averages (what
    evaluation, encoding and decoding use) are left as they are."""
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.momentum = 0.0  # running = (1 - 0) * running + 0 * batch
    try:
        yield
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum


def deepsmote_penalty(
    model: ConvAutoencoder, class_images: torch.Tensor, kind: str = "paper"
) -> torch.Tensor:
    """DeepSMOTE's permutation penalty on images of one class.

    Its batch holds a single class, so it must not update BatchNorm's running statistics: every
    step would otherwise pull them towards the last class drawn, and in evaluation mode (held-out
    MSE, encoding, decoding synthetic latents) the model then normalises every image as if it were
    of that class. On FashionMNIST-LT that turned the decoded synthetic images into grey class
    blobs (held-out MSE 0.17 vs 0.028 without the penalty, at lambda 1 and at 0.1 alike).

    The latents are shifted by one position (a permutation that moves every item) and decoded.
    ``paper``: MSE against the *unpermuted* images, as the paper's formula writes it: the decoder
    must turn a classmate's code into this image, which pulls same-class codes together.
    ``official``: as the released code does it: images permuted alike and the encoder detached, so
    it is plain reconstruction of a class subset through the decoder only.
    """
    order = torch.roll(torch.arange(len(class_images), device=class_images.device), -1)
    with frozen_batchnorm_statistics(model):
        codes = model.encode(class_images)
        if kind == "paper":
            return F.mse_loss(model.decode(codes[order]).float(), class_images)
        decoded = model.decode(codes.detach()[order]).float()
        return F.mse_loss(decoded, class_images[order])
