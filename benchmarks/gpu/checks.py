"""Two checks of the GPU check (benchmarks/gpu/check.sh) that need no data: determinism (one tiny
training twice, same seeds: byte-identical weights) and precision (``compute.precision: auto``
resolves to bf16 on sm80+ such as the H100's sm90; ``fp16`` trains with its gradient scaler
running). Each prints its figures, writes them as JSON and ends with one line for the check's
summary, ``headline: ...``; it exits non-zero when a check fails.

    python benchmarks/gpu/checks.py determinism --device cuda --out determinism.json
    python benchmarks/gpu/checks.py precision --device cuda --out precision.json

On the CPU, ``precision`` checks what a CPU can (``auto`` as the CPU's native bf16 decides, ``fp16``
falling back to fp32 with its scaler off) and says what it left to CUDA.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import numpy as np
import torch
from torch.nn import functional as F

from latentbalance.nets.autoencoders import build_autoencoder
from latentbalance.nets.classifiers import build_resnet
from latentbalance.settings.recipes import AutoencoderRecipe, ClassifierRecipe
from latentbalance.training.loop import FitRun, fit_autoencoder, fit_classifier
from latentbalance.training.runtime import Precision, capability, select_device

# FashionMNIST-LT's classifier recipe (config/fmnist-lt.yaml), so that its random draws (batch
# order, crop, flip, CutMix) take part, at a size that trains in seconds
CLASSIFIER = {
    "epochs": 2,
    "batch_size": 64,
    "optimizer": "sgd",
    "schedule": "onecycle",
    "lr": 0.02,
    "augment": {"crop_padding": 2, "flip": True, "mix": "cutmix", "mix_alpha": 1.0},
}
# steps of 32 images that the fp16 check watches its gradient scaler over
SCALER_STEPS = 10
AUTOENCODER = {"epochs": 2, "batch_size": 50, "latent_dim": 32, "width": 16, "lr": 1e-3}


def toy_images(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` 28x28 images of 10 classes, each class a fixed random pattern plus noise (learnable
    in an epoch or two), in the networks' [-1, 1] range, and their labels."""
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(-1, 1, (10, 1, 28, 28))
    labels = rng.integers(0, 10, n)
    images = 0.7 * patterns[labels] + 0.3 * rng.uniform(-1, 1, (n, 1, 28, 28))
    return torch.from_numpy(images.astype(np.float32)), torch.from_numpy(labels)


def train_classifier(precision: Precision, n_images: int) -> tuple[torch.nn.Module, list]:
    torch.manual_seed(0)
    model = build_resnet("resnet18", 1, 10, "compact")
    x, y = toy_images(n_images)
    recipe = ClassifierRecipe.from_config(CLASSIFIER)
    run = FitRun(torch.Generator().manual_seed(0), precision, desc="classifier")
    cut = n_images * 4 // 5
    return fit_classifier(model, x[:cut], y[:cut], x[cut:], y[cut:], recipe, run, n_classes=10)


def train_autoencoder(precision: Precision, n_images: int) -> torch.nn.Module:
    torch.manual_seed(0)
    recipe = AutoencoderRecipe.from_config(AUTOENCODER)
    model = build_autoencoder("ae", 1, (28, 28), recipe.latent_dim, width=recipe.width)
    x, y = toy_images(n_images)
    run = FitRun(torch.Generator().manual_seed(0), precision, desc="autoencoder")
    cut = n_images * 9 // 10
    model, _ = fit_autoencoder(model, x[:cut], y[:cut], x[cut:], recipe, run, penalty=True)
    return model


def weight_bytes(model: torch.nn.Module) -> dict[str, bytes]:
    """Every parameter and buffer as raw bytes (bit-exact, NaN-safe)."""
    return {
        name: tensor.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes()
        for name, tensor in model.state_dict().items()
    }


def differing(first: dict[str, bytes], second: dict[str, bytes]) -> list[str]:
    return [name for name in first if first[name] != second.get(name)]


def determinism(device: torch.device, n_images: int) -> dict:
    """Each model trained twice from the same seeds; the names of the tensors that differ."""
    precision = Precision(device, "auto")
    result = {"device": str(device), "precision": precision.name, "images": n_images}
    for name, train in [
        ("classifier", lambda: train_classifier(precision, n_images)[0]),
        ("autoencoder", lambda: train_autoencoder(precision, n_images)),
    ]:
        began = time.perf_counter()
        runs = [weight_bytes(train()) for _ in range(2)]
        diff = differing(*runs)
        result[name] = {
            "tensors": len(runs[0]),
            "differing": diff,
            "seconds_for_both": round(time.perf_counter() - began, 1),
        }
        verdict = "byte-identical" if not diff else f"{len(diff)} tensors differ: {diff[:5]}"
        print(f"{name}: two trainings on {device} ({precision.name}): {verdict}", flush=True)
    same = not result["classifier"]["differing"] and not result["autoencoder"]["differing"]
    result["ok"] = same
    result["headline"] = (
        f"classifier and autoencoder weights byte-identical over two runs ({precision.name})"
        if same
        else "weights differ between two runs from the same seeds"
    )
    return result


def scaler_steps(precision: Precision, steps: int) -> dict:
    """A plain step loop with the precision's own autocast and gradient scaler: the scale it
    ends at, and how many steps the scaler skipped for non-finite gradients."""
    torch.manual_seed(0)
    model = precision.prepare(build_resnet("resnet18", 1, 10, "compact").to(precision.device))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    scaler = precision.grad_scaler()
    x, y = toy_images(32 * steps, seed=1)
    start, skipped, losses = scaler.get_scale() if scaler.is_enabled() else None, 0, []
    for batch, target in zip(x.split(32), y.split(32), strict=True):
        batch = precision.prepare(batch.to(precision.device))
        with precision.autocast():
            loss = F.cross_entropy(model(batch).float(), target.to(precision.device))
        optimizer.zero_grad(set_to_none=True)
        before = scaler.get_scale() if scaler.is_enabled() else None
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        skipped += int(scaler.is_enabled() and scaler.get_scale() < before)
        losses.append(loss.item())
    return {
        "scaler_enabled": scaler.is_enabled(),
        "scale_start": start,
        "scale_end": scaler.get_scale() if scaler.is_enabled() else None,
        "steps": steps,
        "skipped_steps": skipped,
        "loss_first": round(losses[0], 4),
        "loss_last": round(losses[-1], 4),
    }


def expected_auto(device: torch.device) -> tuple[str, str]:
    """The device's capability and the precision ``auto`` should resolve to there."""
    if device.type != "cuda":
        # the CPU's native bf16 decides (unit-tested): nothing to compare with here
        return "cpu", Precision(device, "auto").name
    major, minor = capability(device)
    return f"sm_{major}{minor}", "bf16" if (major, minor) >= (8, 0) else "fp16"


def precision_check(device: torch.device, n_images: int) -> dict:
    """What ``auto`` resolves to here, and fp16 training on CUDA: a fit with the library's loop
    (finite losses) and a step loop that reads its gradient scaler. On the CPU ``fp16`` falls
    back to fp32 with its scaler off; the fits are CUDA's (determinism fits on the CPU)."""
    cuda = device.type == "cuda"
    auto = Precision(device, "auto").name
    card, expected = expected_auto(device)
    print(f"precision auto on {device} ({card}): {auto}, expected {expected}", flush=True)
    fp16 = Precision(device, "fp16")
    losses = []
    if cuda:
        _, history = train_classifier(fp16, n_images)
        losses = [round(epoch["train_loss"], 4) for epoch in history]
        print(f"fit in {fp16.name}: training loss per epoch {losses}")
    steps = scaler_steps(fp16, SCALER_STEPS if cuda else 2)
    print(f"scaler ({fp16.name}): {json.dumps(steps)}", flush=True)
    finite = all(math.isfinite(v) for v in losses)
    enabled = steps["scaler_enabled"]
    if cuda:
        # the scaler ran: enabled, and not every step skipped for an overflow
        scaled = fp16.name == "fp16" and enabled and steps["skipped_steps"] < steps["steps"]
    else:
        scaled = fp16.name == "fp32" and not enabled
    scaler = "off"
    if enabled:
        scaler = (
            f"{steps['scale_start']:.0f} -> {steps['scale_end']:.0f} over {steps['steps']} "
            f"steps ({steps['skipped_steps']} skipped)"
        )
    fit = f", fit losses {'finite' if finite else 'NOT finite'}" if cuda else ""
    return {
        "device": str(device),
        "capability": card,
        "auto": auto,
        "auto_expected": expected,
        "fp16_in_effect": fp16.name,
        "fp16_fit_losses": losses,
        "fp16_steps": steps,
        "ok": auto == expected and finite and scaled,
        "headline": f"auto -> {auto} on {card}; fp16 as {fp16.name}, scaler {scaler}{fit}",
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("check", choices=["determinism", "precision"])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--images", type=int, default=1000, help="toy training images")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", help="write the figures as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    check = determinism if args.check == "determinism" else precision_check
    result = check(device, args.images)
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(result, handle, indent=2)
    print(f"headline: {result['headline']}")
    raise SystemExit(0 if result["ok"] else 1)


if __name__ == "__main__":
    main()
