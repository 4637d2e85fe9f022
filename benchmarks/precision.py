"""bf16 stays sane: the same training in fp32 and in bf16 autocast (+ channels_last), on the same
real FashionMNIST images (Debian's dataset-fashion-mnist), same initial weights, same batch order.
Reports each precision's final training loss and held-out accuracy (classifier) or held-out
reconstruction MSE (autoencoder), the differences, and images/s; with several ``--seeds``, the
mean and sd of each over the seeds, so that bf16's difference can be read against fp32's own
seed-to-seed spread.

    python benchmarks/precision.py          # CPU; bf16 is emulated without AVX-512 bf16
    python benchmarks/precision.py --train 5000 --epochs 3 --seeds 0 1 2 --threads 1
    python benchmarks/precision.py --device cuda --train 5000 --epochs 5

On a CPU without native bf16, bf16 runs ~10x slower than fp32 (emulated), which is why
``compute.precision: auto`` keeps fp32 there; the numbers still show whether bf16 training is
sound.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from latentbalance.data.sources import load_fashionmnist
from latentbalance.nets.autoencoders import build_autoencoder
from latentbalance.nets.classifiers import build_resnet
from latentbalance.settings.recipes import AutoencoderRecipe, ClassifierRecipe
from latentbalance.training.environment import cpu_has_native_bf16
from latentbalance.training.loop import FitRun, fit_autoencoder, fit_classifier
from latentbalance.training.runtime import Precision, select_device
from latentbalance.training.tensors import to_unit_range


def held_out_accuracy(model, images, labels, precision, device) -> float:
    model.eval()
    with torch.no_grad(), precision.autocast():
        logits = model(precision.prepare(images.to(device)))
    return (logits.float().argmax(1).cpu() == labels).float().mean().item()


def held_out_mse(model, images, precision, device) -> float:
    model.eval()
    with torch.no_grad(), precision.autocast():
        batch = precision.prepare(images.to(device))
        out = model(batch)
        reconstruction = out[0] if isinstance(out, tuple) else out
    return F.mse_loss(reconstruction.float(), batch.float()).item()


def train_once(case, precision, data, args, device, seed):
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    began = time.perf_counter()
    if case == "resnet18":
        model = build_resnet("resnet18", 1, 10, args.stem)
        recipe = ClassifierRecipe.from_config(
            {
                "stem": args.stem,
                "epochs": args.epochs,
                "batch_size": 128,
                "lr": 0.05,
                "weight_decay": 5e-4,
                "optimizer": "sgd",
                "schedule": "onecycle",
                "patience": args.epochs,
            }
        )
        run = FitRun(generator, precision, desc=precision.name)
        model, history = fit_classifier(
            model, x_train, y_train, x_test[:256], y_test[:256], recipe, run, n_classes=10
        )
        quality = {"held_out_accuracy": held_out_accuracy(model, x_test, y_test, precision, device)}
    else:
        model = build_autoencoder("ae", 1, (28, 28), 300, width=args.width)
        recipe = AutoencoderRecipe.from_config(
            {"epochs": args.epochs, "batch_size": 100, "lr": 1e-3, "penalty_kind": "official"}
        )
        run = FitRun(generator, precision, desc=precision.name)
        model, history = fit_autoencoder(
            model, x_train, y_train, x_test[:256], recipe, run, penalty=True
        )
        quality = {"held_out_mse": held_out_mse(model, x_test, precision, device)}
    seconds = time.perf_counter() - began
    return {
        "precision": precision.name,
        "seed": seed,
        "final_train_loss": round(history[-1]["train_loss"], 5),
        **{k: round(v, 5) for k, v in quality.items()},
        "images_per_s": round(len(x_train) * args.epochs / seconds, 1),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fashion-mnist", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--root", default="resources/fashionmnist")
    parser.add_argument("--cases", nargs="+", default=["resnet18", "ae28"])
    parser.add_argument("--train", type=int, default=1000, help="training images")
    parser.add_argument("--test", type=int, default=2000, help="held-out images")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument(
        "--seeds", type=int, nargs="+", default=[0],
        help="initial weights and batch orders; with several, fp32's own spread over them is "
        "what a bf16 difference is read against",
    )  # fmt: skip
    parser.add_argument("--stem", default="imagenet", help="ResNet stem (classifiers.STEMS)")
    parser.add_argument("--width", type=int, default=32, help="autoencoder width")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    dataset = load_fashionmnist(args.root, download=False, local_copy=args.fashion_mnist)
    order = np.random.default_rng(0).permutation(len(dataset.labels))
    train, test = order[: args.train], order[args.train : args.train + args.test]
    data = (
        to_unit_range(dataset.images[train]),
        torch.from_numpy(dataset.labels[train]),
        to_unit_range(dataset.images[test]),
        torch.from_numpy(dataset.labels[test]),
    )
    header = {"device": str(device), "native_bf16": cpu_has_native_bf16(), "threads": args.threads}
    print(json.dumps(header))
    results = []
    for case in args.cases:
        runs = [
            train_once(case, Precision(device, name), data, args, device, seed)
            for seed in args.seeds
            for name in ("fp32", "bf16")
        ]
        quality = "held_out_accuracy" if case == "resnet18" else "held_out_mse"
        result = {"case": case, "runs": runs}
        for key in ("final_train_loss", quality):
            values = {
                name: [run[key] for run in runs if run["precision"] == name]
                for name in ("fp32", "bf16")
            }
            for name, series in values.items():
                result[f"{key}_{name}_mean"] = round(float(np.mean(series)), 5)
                result[f"{key}_{name}_sd"] = (
                    round(float(np.std(series, ddof=1)), 5) if len(series) > 1 else None
                )
            result[f"{key}_difference"] = round(
                result[f"{key}_bf16_mean"] - result[f"{key}_fp32_mean"], 5
            )
        print(json.dumps(result), flush=True)
        results.append(result)
    if args.out:
        record = {**header, "args": vars(args), "results": results}
        args.out.write_text(json.dumps(record, indent=2, default=str))  # default: Path as text


if __name__ == "__main__":
    main()
