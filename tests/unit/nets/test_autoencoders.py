"""The autoencoders: their shapes, DeepSMOTE's architecture, each kind's loss terms, the MMD and
DeepSMOTE's penalty. (Their small-map convolutions: test_small_maps.py; their fit:
test_training.py.)"""

import pytest
import torch

from latentbalance.nets.autoencoders import (
    autoencoder_losses,
    build_autoencoder,
    deepsmote_penalty,
    imq_mmd,
)
from latentbalance.rebalance.methods import AUTOENCODERS


@pytest.mark.parametrize(
    "shape, latent", [((1, 28, 28), 300), ((1, 8, 8), 16), ((3, 32, 32), 600), ((3, 64, 48), 32)]
)
def test_autoencoder_reconstructs_the_input_shape(shape, latent):
    model = build_autoencoder("ae", shape[0], shape[1:], latent).eval()
    images = torch.rand(4, *shape) * 2 - 1
    with torch.no_grad():
        codes = model.encode(images)
        decoded = model.decode(codes)
    assert codes.shape == (4, latent)
    assert decoded.shape == images.shape
    assert decoded.min() >= -1 and decoded.max() <= 1


def test_autoencoder_architecture_is_deepsmote_style():
    model = build_autoencoder("ae", 1, (28, 28), 300)
    convs = [m for m in model.encoder if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512]
    assert all(c.stride == (2, 2) for c in convs)


@pytest.mark.parametrize("kind", AUTOENCODERS)
@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_each_autoencoder_learns(kind, shape):
    """A few steps on a fixed batch of structured images lower the total loss."""
    torch.manual_seed(0)
    model = build_autoencoder(kind, shape[0], shape[1:], latent_dim=16, width=8)
    # smooth blobs, not noise: something an autoencoder can learn
    grid = torch.linspace(-1, 1, shape[1])
    centres = torch.rand(32, 2) - 0.5
    blobs = torch.exp(
        -(
            (grid[None, :, None] - centres[:, 0, None, None]) ** 2
            + (grid[None, None, :] - centres[:, 1, None, None]) ** 2
        )
        / 0.1
    )
    images = (2 * blobs - 1)[:, None].expand(-1, shape[0], -1, -1).contiguous()
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for _ in range(30):
        terms = autoencoder_losses(model, images)
        loss = sum(terms.values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    expected_terms = {"ae": {"recon"}, "vae": {"recon", "kl"}, "wae": {"recon", "mmd"}}[kind]
    assert set(terms) == expected_terms
    assert sum(losses[-5:]) / 5 < 0.7 * sum(losses[:5]) / 5


def test_vae_encodes_to_its_posterior_mean():
    model = build_autoencoder("vae", 1, (28, 28), latent_dim=10, width=8).eval()
    images = torch.rand(4, 1, 28, 28) * 2 - 1
    mean, log_var = model.encode_distribution(images)
    assert torch.equal(model.encode(images), mean)
    assert log_var.shape == (4, 10)


def test_mmd_is_small_for_prior_samples_and_large_for_shifted_codes():
    torch.manual_seed(0)
    prior = torch.randn(200, 8)
    assert abs(imq_mmd(torch.randn(200, 8), prior).item()) < 0.05
    assert imq_mmd(torch.randn(200, 8) + 3, prior).item() > 0.5


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_wae_weighs_its_mmd_against_reconstruction_as_tolstikhin_et_al_do(shape):
    # the paper: per image sum of squared errors + lambda * MMD, lambda = 10. Here both terms are
    # that loss divided by the pixels per image (the reconstruction stays a per-pixel MSE)
    model = build_autoencoder("wae", shape[0], shape[1:], latent_dim=8, width=8).eval()
    images = torch.rand(6, *shape) * 2 - 1
    torch.manual_seed(3)
    terms = autoencoder_losses(model, images, mmd_weight=10.0)
    with torch.no_grad():
        codes = model.encode(images)
        squared_errors = (model.decode(codes) - images).pow(2).flatten(1).sum(1).mean()
    torch.manual_seed(3)
    mmd = imq_mmd(codes, torch.randn_like(codes))
    pixels = images[0].numel()
    assert terms["recon"].item() * pixels == pytest.approx(squared_errors.item(), rel=1e-5)
    assert terms["mmd"].item() * pixels == pytest.approx(10.0 * mmd.item(), rel=1e-5)
    # so the MMD's share of the loss is the paper's, whatever the image size
    paper = 10.0 * mmd / (squared_errors + 10.0 * mmd)
    share = terms["mmd"] / (terms["recon"] + terms["mmd"])
    assert share.item() == pytest.approx(paper.item(), rel=1e-5)


def test_paper_penalty_differs_from_reconstruction_where_official_equals_it():
    """The released DeepSMOTE code permutes images and latents alike, so its 'penalty' is just
    reconstruction of the class batch (through a detached encoder); the paper's formula compares
    decoded permuted latents with the unpermuted images."""
    torch.manual_seed(0)
    model = build_autoencoder("ae", 1, (28, 28), latent_dim=16, width=8)
    # six different images, learnt well enough that each code decodes to its own image
    images = -torch.ones(6, 1, 28, 28)
    for i in range(6):
        images[i, 0, 4 * i : 4 * i + 4, :] = 1.0
    optimizer = torch.optim.Adam(model.parameters(), lr=2e-3)
    for _ in range(60):
        loss = autoencoder_losses(model, images)["recon"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    reconstruction = torch.nn.functional.mse_loss(model(images), images)
    official = deepsmote_penalty(model, images, "official")
    paper = deepsmote_penalty(model, images, "paper")
    assert official.item() == pytest.approx(reconstruction.item(), rel=1e-5)
    assert paper.item() > 2 * reconstruction.item()

    # the official penalty sends no gradient into the encoder; the paper's does
    model.zero_grad()
    deepsmote_penalty(model, images, "official").backward()
    assert all(p.grad is None or not p.grad.any() for p in model.encoder.parameters())
    model.zero_grad()
    deepsmote_penalty(model, images, "paper").backward()
    assert any(p.grad is not None and p.grad.any() for p in model.encoder.parameters())


@pytest.mark.parametrize("kind", ["paper", "official"])
def test_penalty_leaves_batchnorm_running_statistics_alone(kind):
    """The penalty's batch is one class: had it updated BatchNorm's running averages, evaluation
    mode (held-out MSE, encoding, decoding synthetic latents) would normalise every image as if it
    were of the last class drawn."""
    torch.manual_seed(0)
    model = build_autoencoder("ae", 1, (28, 28), latent_dim=16, width=8).train()
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms
    before = [(m.running_mean.clone(), m.running_var.clone(), m.momentum) for m in norms]
    one_class = torch.rand(12, 1, 28, 28) * 2 - 1
    deepsmote_penalty(model, one_class, kind).backward()
    for norm, (mean, var, momentum) in zip(norms, before, strict=True):
        assert torch.equal(norm.running_mean, mean) and torch.equal(norm.running_var, var)
        assert norm.momentum == momentum
    # the reconstruction pass of the same step still updates them
    autoencoder_losses(model, one_class)["recon"].backward()
    assert not torch.equal(norms[0].running_mean, before[0][0])
