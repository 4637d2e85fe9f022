"""Training throughput: latentbalance's training loops vs. a plain fp32 PyTorch loop over a
DataLoader, the way the published DeepSMOTE code trains. Same process, same model and initial
weights, same images and batch size; repetitions interleaved (ours, plain, ours, plain, ...) so
that a busy machine slows both alike. Prints images/s (median over repetitions), their ratio, the
median of each round's ratio, and the process's peak RSS, and writes them as JSON.

    python benchmarks/speed.py                      # all three cases, 3 repetitions
    python benchmarks/speed.py --cases ae28 --repeats 5 --out speed.json

Ours = ``latentbalance.training.loop.fit_autoencoder`` / ``fit_classifier`` for one epoch (batches
sliced from tensors in memory, fused Adam, ResNet convolutions of 2x2-or-smaller maps as matrix
products without the padding taps, autoencoder convolutions of 4x4-or-smaller maps as one
matrix product over the batch (``latentbalance.nets.small_maps``), channels_last on a CPU, bf16
autocast where the CPU has native bf16 or on CUDA, fp32 otherwise).
Plain = a torch Dataset of NumPy images through a DataLoader, per-item conversion, fp32 NCHW,
default Adam, torchvision's ResNet as it is; for the autoencoder, DeepSMOTE's per-step penalty
batch drawn with NumPy from the class's images, as in its released script. Both run on the same
device (``--device``, the GPU where there is one): the plain loop moves its model and each batch
there, as a plain GPU loop does. The clock stops once the device has finished.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import platform
import resource
import statistics
import time

import numpy as np
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset
from torch.utils.flop_counter import FlopCounterMode

from latentbalance.nets.autoencoders import build_autoencoder
from latentbalance.nets.classifiers import build_resnet
from latentbalance.nets.small_maps import with_torch_layers
from latentbalance.settings.recipes import AutoencoderRecipe, ClassifierRecipe
from latentbalance.settings.schema import allowed
from latentbalance.training.environment import cpu_has_native_bf16
from latentbalance.training.loop import FitRun, fit_autoencoder, fit_classifier
from latentbalance.training.runtime import Precision, select_device
from latentbalance.training.tensors import to_unit_range

# name: (model, channels, side, latent / classes, batch size)
CASES = {
    "ae28": ("autoencoder", 1, 28, 300, 100),
    "ae32": ("autoencoder", 3, 32, 600, 100),
    "resnet18": ("resnet18", 1, 28, 10, 64),
}


class NumpyImages(Dataset):
    """Per-item access to uint8 images, converted on the fly (what a plain loop does)."""

    def __init__(self, images: np.ndarray, labels: np.ndarray):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        image = torch.from_numpy(self.images[i]).float() / 127.5 - 1.0
        return image, int(self.labels[i])


def plain_autoencoder_epoch(model, images, labels, batch_size, lr, device):
    """DeepSMOTE's released loop: reconstruction + its penalty on a random class each step."""
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(NumpyImages(images, labels), batch_size=batch_size, shuffle=True)
    total, seen = 0.0, 0
    for batch, _ in loader:
        if len(batch) < 2:
            continue
        batch = batch.to(device)
        loss = F.mse_loss(model(batch), batch)
        cls = np.random.choice(np.unique(labels))
        members = images[labels == cls]
        pick = members[np.random.choice(len(members), min(batch_size, len(members)), False)]
        class_batch = torch.Tensor(pick / 127.5 - 1.0).to(device)
        codes = model.encode(class_batch).detach().cpu().numpy()
        order = np.roll(np.arange(len(codes)), -1)
        decoded = model.decode(torch.Tensor(codes[order]).to(device))
        loss = loss + F.mse_loss(decoded, class_batch[order])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total, seen = total + loss.item() * len(batch), seen + len(batch)
    return total / seen  # the epoch's mean, as ours reports it


def plain_classifier_epoch(model, images, labels, batch_size, lr, device):
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    loader = DataLoader(NumpyImages(images, labels), batch_size=batch_size, shuffle=True)
    total, seen = 0.0, 0
    for batch, target in loader:
        if len(batch) < 2:
            continue
        batch, target = batch.to(device), target.to(device)
        loss = F.cross_entropy(model(batch), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total, seen = total + loss.item() * len(batch), seen + len(batch)
    return total / seen


def our_epoch(kind, model, images, labels, batch_size, lr, precision):
    x, y = to_unit_range(images), torch.from_numpy(labels)
    generator = torch.Generator().manual_seed(0)
    if kind == "autoencoder":
        recipe = AutoencoderRecipe.from_config(
            {"epochs": 1, "batch_size": batch_size, "lr": lr, "penalty_kind": "official"}
        )
        run = FitRun(generator, precision, desc="ours")
        _, history = fit_autoencoder(model, x, y, x[:0], recipe, run, penalty=True)
        return history[-1]["train_loss"]
    recipe = ClassifierRecipe.from_config(
        {"epochs": 1, "batch_size": batch_size, "lr": lr, "weight_decay": 0.0, "patience": 5}
    )
    run = FitRun(generator, precision, desc="ours")
    _, history = fit_classifier(
        model, x, y, x[:2], y[:2], recipe, run, n_classes=model.fc.out_features
    )
    return history[-1]["train_loss"]


def build(kind, channels, side, size):
    if kind == "autoencoder":
        return build_autoencoder("ae", channels, (side, side), size, width=64)
    return build_resnet(kind, channels, size, "imagenet")


def plain_copy(kind, model):
    """The same network and weights as a plain loop builds it: for a ResNet, torchvision's own
    class (ours skips the padding taps of maps of 2x2 or less), for the autoencoder the same
    module with torch's own convolutions (ours computes maps of 4x4 or less as products)."""
    return with_torch_layers(model)


def run_case(name, n_images, repeats, device, precision):
    kind, channels, side, size, batch_size = CASES[name]
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_images, channels, side, side), dtype=np.uint8)
    labels = rng.integers(0, 10, n_images)
    torch.manual_seed(0)
    initial = build(kind, channels, side, size)
    timings = {"ours": [], "plain": []}
    losses = {"ours": [], "plain": []}
    flops = {}
    for repeat in range(repeats + 1):
        for who in ("ours", "plain"):
            model = copy.deepcopy(initial) if who == "ours" else plain_copy(kind, initial)
            # the first round warms up kernels and caches, uncounted, and counts the arithmetic
            counter = FlopCounterMode(display=False) if repeat == 0 else contextlib.nullcontext()
            began = time.perf_counter()
            with counter:
                if who == "ours":
                    loss = our_epoch(kind, model, images, labels, batch_size, 1e-3, precision)
                else:
                    plain = (
                        plain_autoencoder_epoch if kind == "autoencoder" else plain_classifier_epoch
                    )
                    loss = plain(model, images, labels, batch_size, 1e-3, device)
                synchronize(device)
            if repeat == 0:
                flops[who] = counter.get_total_flops() / n_images
            else:
                timings[who].append(n_images / (time.perf_counter() - began))
                losses[who].append(loss)
    ours, plain = statistics.median(timings["ours"]), statistics.median(timings["plain"])
    # each round's ours / plain: the pair ran back to back, so a slow spell of a shared machine
    # moves both; their median is steadier than the ratio of the two medians
    paired = [a / b for a, b in zip(timings["ours"], timings["plain"], strict=True)]
    return {
        "case": name,
        "images": n_images,
        "batch_size": batch_size,
        "ours_images_per_s": round(ours, 1),
        "plain_images_per_s": round(plain, 1),
        "ratio": round(ours / plain, 2),
        "ratio_paired_median": round(statistics.median(paired), 2),
        "ratios_paired": [round(r, 2) for r in paired],
        # convolutions and matrix products, forward and backward (torch's FLOP counter)
        "gflop_per_image": {who: round(f / 1e9, 3) for who, f in flops.items()},
        "ours_gflop_per_s": round(ours * flops["ours"] / 1e9, 1),
        "plain_gflop_per_s": round(plain * flops["plain"] / 1e9, 1),
        "ours_all": [round(t, 1) for t in timings["ours"]],
        "plain_all": [round(t, 1) for t in timings["plain"]],
        "final_loss": {who: round(statistics.median(v), 4) for who, v in losses.items()},
    }


def synchronize(device):
    """Wait for the device's queued work: a CUDA clock stops when the GPU has finished."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflop_per_s(device, side=2048, repeats=5, rounds=3):
    """The machine's fp32 matrix-multiply rate (best of ``rounds``): what the same arithmetic
    could reach at best."""
    a, b = torch.randn(side, side, device=device), torch.randn(side, side, device=device)
    a @ b
    best = 0.0
    for _ in range(rounds):
        began = time.perf_counter()
        for _ in range(repeats):
            product = a @ b
        product.sum().item()  # waits for an asynchronous device
        best = max(best, 2 * side**3 * repeats / (time.perf_counter() - began) / 1e9)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    parser.add_argument("--images", type=int, default=1000, help="images per epoch")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument(
        "--device", default="auto", choices=allowed("compute.device"), help="both loops run here"
    )
    parser.add_argument("--out", default=None, help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    precision = Precision(device, "auto")
    header = {
        "machine": f"{platform.processor() or platform.machine()}, {args.threads} threads",
        "native_bf16": cpu_has_native_bf16(),
        "device": str(device),
        "precision": precision.name,
        "channels_last": precision.channels_last,
        "torch": torch.__version__,
        "matmul_gflop_per_s": round(matmul_gflop_per_s(device), 1),
    }
    print(json.dumps(header))
    results = []
    for name in args.cases:
        result = run_case(name, args.images, args.repeats, device, precision)
        print(
            f"{name}: ours {result['ours_images_per_s']} img/s, plain "
            f"{result['plain_images_per_s']} img/s, ratio {result['ratio']}x, median of "
            f"the rounds' ratios {result['ratio_paired_median']}x "
            f"(final loss ours {result['final_loss']['ours']}, plain "
            f"{result['final_loss']['plain']}); GFLOP per image ours "
            f"{result['gflop_per_image']['ours']}, plain {result['gflop_per_image']['plain']}; "
            f"GFLOP/s ours {result['ours_gflop_per_s']}, plain {result['plain_gflop_per_s']} "
            f"of the machine's {header['matmul_gflop_per_s']} for a fp32 matrix product",
            flush=True,
        )
        results.append(result)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the process: {peak_mb:.0f} MB")
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(
                {**header, "peak_rss_mb": round(peak_mb), "results": results}, handle, indent=2
            )


if __name__ == "__main__":
    main()
