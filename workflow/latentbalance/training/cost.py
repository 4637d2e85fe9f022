"""What one image costs this machine: a few real training batches of the workflow's own networks
(``build_autoencoder``, ``build_classifier``, with the optimizer, precision and device a job would
use), timed, their FLOPs counted and the memory a training step holds added up; and the
synthetic-sample check's nearest-neighbour search timed on random images. ``training.budget``
turns these into the time of a whole run.

The first batch of a network is not timed: it allocates and picks kernels (oneDNN, cuDNN), which
a job pays once, not per epoch.
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.flop_counter import FlopCounterMode

from ..nets.autoencoders import autoencoder_losses, build_autoencoder
from ..nets.classifiers import build_classifier
from ..rebalance.methods import expand_methods, parse_method
from ..settings.recipes import Compute, latent_size
from .budget import Costs, Data, Machine, NetCost
from .environment import cpu_details
from .loop import make_optimizer
from .runtime import Precision, resolve, use_threads

TIMED_BATCHES = 3
# stop timing a network after this many seconds, whatever TIMED_BATCHES says
TIMING_SECONDS = 4.0


def machine(compute: dict) -> Machine:
    device, precision = resolve(Compute.from_config(compute))
    cores = os.cpu_count() or 1
    return Machine(
        device.type,
        precision.name,
        min(compute["threads"], cores),
        cores,
        cpu_details()["cpu"],
        neighbour_seconds(),
    )


@contextmanager
def torch_threads(threads: int):
    before = torch.get_num_threads()
    use_threads(threads)  # as the jobs it times run
    try:
        yield
    finally:
        torch.set_num_threads(before)


class SavedActivations:
    """The bytes autograd keeps for the backward pass of what runs inside (each storage once):
    a training batch's activations, the memory that grows with the batch and the image size."""

    def __enter__(self):
        self.storages: dict[int, int] = {}

        def pack(tensor):
            storage = tensor.untyped_storage()
            self.storages[storage.data_ptr()] = storage.nbytes()
            return tensor

        self.hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor)
        self.hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self.hooks.__exit__(*exc)
        self.bytes = sum(self.storages.values())


def training_memory(model, optimizer, activations: int, batch: torch.Tensor) -> int:
    """Weights, gradients and optimizer state (as many bytes as the weights per state tensor:
    Adam's two moments, SGD's momentum), the batch, and the activations of one step."""
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    states = sum(
        value.numel() * value.element_size()
        for state in optimizer.state.values()
        for value in state.values()
        if isinstance(value, torch.Tensor)
    )
    return 2 * weights + states + batch.numel() * batch.element_size() + activations


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_network(model, optimizer, step, batch: torch.Tensor, precision: Precision) -> NetCost:
    """Per-image cost of ``step(model, batch)`` (one training step with ``optimizer``, returns
    nothing) and of a forward pass of ``batch``, on ``precision.device``."""
    device, n = precision.device, len(batch)
    model = precision.prepare(model.to(device))
    batch = precision.prepare(batch.to(device))
    model.train()
    # the untimed first batch
    with FlopCounterMode(display=False) as counted, SavedActivations() as saved:
        step(model, batch)
    train_flops = counted.get_total_flops() / n
    memory = training_memory(model, optimizer, saved.bytes, batch)
    train_s = _timed(lambda: step(model, batch), device) / n
    model.eval()

    def forward():
        with torch.no_grad(), precision.autocast():
            model(batch)

    with FlopCounterMode(display=False) as counted:
        forward()
    forward_s = _timed(forward, device) / n
    with torch_threads(1):  # as oversample and evaluate run it
        forward_1_s = _timed(forward, device) / n if device.type == "cpu" else forward_s
    flops = counted.get_total_flops() / n
    return NetCost(train_s, forward_s, train_flops, flops, memory, forward_1_s)


def _timed(run, device) -> float:
    """Median seconds of ``run`` over up to TIMED_BATCHES calls (at least one)."""
    seconds = []
    started = time.perf_counter()
    while len(seconds) < TIMED_BATCHES and time.perf_counter() - started < TIMING_SECONDS:
        _synchronize(device)
        start = time.perf_counter()
        run()
        _synchronize(device)
        seconds.append(time.perf_counter() - start)
    return float(np.median(seconds))


def _random_batch(batch_size: int, channels: int, size) -> torch.Tensor:
    """Images in [-1, 1], the range ``to_unit_range`` gives a job."""
    generator = torch.Generator().manual_seed(0)
    return torch.rand(batch_size, channels, *size, generator=generator) * 2 - 1


def autoencoder_cost(
    kind: str, channels: int, size, latent_dim: int, recipe: dict, compute: dict, threads: int
) -> NetCost:
    """An autoencoder of ``kind`` at ``size`` [height, width], trained as
    ``loop.fit_autoencoder`` does (Adam, its loss terms, ``recipe``: the autoencoder block)."""
    _, precision = resolve(Compute.from_config(compute))
    with torch_threads(threads):
        model = build_autoencoder(kind, channels, size, latent_dim, recipe["width"])
        optimizer = torch.optim.Adam(model.parameters(), lr=recipe["lr"], fused=True)

        def step(model, batch):
            with precision.autocast():
                terms = autoencoder_losses(
                    model,
                    batch,
                    kl_weight=recipe["kl_weight"],
                    mmd_weight=recipe["mmd_weight"],
                )
            optimizer.zero_grad(set_to_none=True)
            sum(terms.values()).backward()
            optimizer.step()

        batch = _random_batch(recipe["batch_size"], channels, size)
        return time_network(model, optimizer, step, batch, precision)


def classifier_cost(
    arch: str, channels: int, size, n_classes: int, recipe: dict, compute: dict, threads: int
) -> NetCost:
    """A classifier ``arch`` with ``recipe["stem"]`` at ``size``, trained as
    ``loop.fit_classifier`` does (its optimizer, cross-entropy; ``recipe``: the classifier
    block)."""
    device, precision = resolve(Compute.from_config(compute))
    spec = {
        "arch": arch,
        "stem": recipe["stem"],
        "in_channels": channels,
        "n_classes": n_classes,
        "last_layer": "linear",
    }
    with torch_threads(threads):
        model = build_classifier(spec)
        optimizer = make_optimizer(
            recipe["optimizer"], model.parameters(), recipe["lr"], recipe["weight_decay"]
        )
        target = torch.arange(recipe["batch_size"]).remainder(n_classes).to(device)

        def step(model, batch):
            with precision.autocast():
                logits = model(batch).float()
            loss = F.cross_entropy(logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        batch = _random_batch(recipe["batch_size"], channels, size)
        return time_network(model, optimizer, step, batch, precision)


def neighbour_seconds(pixels: int = 3 * 32 * 32, images: int = 300) -> float:
    """Seconds per (pair of images x pixel) of the synthetic-sample check (scikit-learn's
    nearest neighbours on flattened images, as ``rebalance.synthetic_check`` runs them)."""
    from ..rebalance.synthetic_check import nearest_neighbour_check

    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (images, pixels), dtype=np.uint8)
    synthetic = rng.integers(0, 256, (2 * images, pixels), dtype=np.uint8)
    labels = np.zeros(images, int)
    start = time.perf_counter()
    nearest_neighbour_check(real, labels, synthetic, np.zeros(2 * images, int), ["a"])
    seconds = time.perf_counter() - start
    pairs = images**2 + 2 * images**2 + (2 * images) ** 2  # real-real, synthetic-real, -synthetic
    return seconds / (pairs * pixels)


def measurer(config: dict, data: Data):
    """``measure(size, stem)``: the ``Costs`` of ``config``'s autoencoder kinds and
    architectures at that size, the classifiers with that stem, on this machine."""
    here = machine(config["compute"])
    methods = map(parse_method, expand_methods(config["methods"]))
    kinds = sorted({m.autoencoder for m in methods if m.autoencoder})
    n_classes, compute = len(data.counts), config["compute"]

    def measure(size, stem) -> Costs:
        autoencoder = config["autoencoder"]
        latent = latent_size(autoencoder["latent_dim"], data.channels)
        classifier = {**config["classifier"], "stem": stem}
        return Costs(
            here,
            tuple(size),
            {
                kind: autoencoder_cost(
                    kind, data.channels, size, latent, autoencoder, compute, here.threads
                )
                for kind in kinds
            },
            {
                arch: classifier_cost(
                    arch, data.channels, size, n_classes, classifier, compute, here.threads
                )
                for arch in config["architectures"]
            },
        )

    return measure
