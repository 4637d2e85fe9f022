"""Choose the heads' settings on the folds' holdouts, never on the test sets: for every finished
backbone classifier of a run, each head (crt, smote-feat, eos) trained as the workflow's
``train_head`` does (same features, seeds and sampling) under each candidate of ``heads.epochs``
and ``heads.lr`` (and, for EOS, ``heads.eos_neighbors``), and scored on the backbone's own
fold's holdout (with test-time flip when asked, as ``evaluate`` would). The features are
computed once per backbone, so a grid takes seconds per candidate. Prints holdout ACSA in % per
backbone, head and candidate; each epochs/lr candidate's mean over every head, and each EOS k's
mean over the EOS heads at the best epochs and lr.

    python benchmarks/head_choices.py results/fmnist_lt --backbones none ros smote-ae \\
        --epochs 10 30 --lr 0.001 0.01 --eos-neighbors 5 10 20 --test-time-flip
"""

from __future__ import annotations

import argparse
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from latentbalance.data.sources import ImageDataset
from latentbalance.data.splits import fold_indices, test_indices
from latentbalance.nets.model_files import load_classifier
from latentbalance.rebalance.heads import penultimate_features, train_head_layer
from latentbalance.rebalance.methods import HEADS
from latentbalance.settings.recipes import Compute, HeadRecipe
from latentbalance.training.runtime import resolve
from latentbalance.training.tensors import to_unit_range
from latentbalance.verdict.metrics import compute_metrics


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="results/<dataset> of a run")
    parser.add_argument("--backbones", nargs="+", default=["none"])
    parser.add_argument("--heads", nargs="+", default=list(HEADS), choices=HEADS)
    parser.add_argument("--epochs", type=int, nargs="+", default=[10])
    parser.add_argument("--lr", type=float, nargs="+", default=[0.001])
    parser.add_argument("--eos-neighbors", type=int, nargs="+", default=[10])
    parser.add_argument("--seed", type=int, default=42, help="the run's config seed")
    parser.add_argument("--test-time-flip", action="store_true")
    args = parser.parse_args()
    dataset = ImageDataset.load(args.results / "data" / "images.npz")
    split, folds = args.results / "split" / "split.npz", args.results / "split" / "folds.npz"
    device, precision = resolve(Compute.from_config({"device": "auto"}))
    rows = []
    for backbone in args.backbones:
        for path in sorted(args.results.glob(f"fold*/classifier/{backbone}/*/model.pt")):
            model, spec = load_classifier(path)
            fold = spec["fold"]
            train = fold_indices(split, folds, fold)["train"]
            holdout = test_indices(split, folds, fold, "holdout")
            features = penultimate_features(
                model, to_unit_range(dataset.images[train]), 256, device, precision
            ).numpy()
            holdout_images = to_unit_range(dataset.images[holdout])
            views = [penultimate_features(model, holdout_images, 256, device, precision)]
            if args.test_time_flip:
                flipped = holdout_images.flip(-1)
                views.append(penultimate_features(model, flipped, 256, device, precision))
            for head, epochs, lr, k in product(
                args.heads, args.epochs, args.lr, args.eos_neighbors
            ):
                if head != "eos" and k != args.eos_neighbors[0]:
                    continue  # k is EOS's alone
                method_id = f"{backbone}@{head}"
                recipe = HeadRecipe.from_config({"epochs": epochs, "lr": lr, "eos_neighbors": k})
                layer, _, _ = train_head_layer(
                    head,
                    features,
                    dataset.labels[train],
                    dataset.n_classes,
                    recipe,
                    args.seed,
                    fold,
                    method_id,
                    desc=f"{method_id} {epochs} epochs lr {lr:g} k {k}",
                )
                with torch.no_grad():
                    probabilities = np.mean(
                        [torch.softmax(layer(view), 1).numpy() for view in views], axis=0
                    )
                scores = compute_metrics(
                    dataset.labels[holdout], probabilities.argmax(1), dataset.n_classes
                )
                rows.append(
                    {"model": method_id, "head": head, "fold": fold, "epochs": epochs, "lr": lr}
                    | {"k": k if head == "eos" else args.eos_neighbors[0]}
                    | {"ACSA": 100 * scores["acsa"]}
                )
    table = pd.DataFrame(rows)
    wide = table.pivot_table(index=["model", "fold"], columns=["epochs", "lr", "k"], values="ACSA")
    wide.columns = [f"{e} epochs, lr {lr:g}, k {k}" for e, lr, k in wide.columns]
    print("Holdout ACSA (%) per head and setting (k: EOS's neighbours; other heads: the first)\n")
    print(wide.round(2).reset_index().to_markdown(index=False))
    first_k = table[table["k"] == args.eos_neighbors[0]]
    means = first_k.groupby(["epochs", "lr"])["ACSA"].mean()
    epochs, lr = (int(means.idxmax()[0]), float(means.idxmax()[1]))
    print(
        f"\nMean over the heads per (epochs, lr): {means.round(2).to_dict()}; best: {(epochs, lr)}"
    )
    eos = table[(table["head"] == "eos") & (table["epochs"] == epochs) & (table["lr"] == lr)]
    if not eos.empty:
        by_k = eos.groupby("k")["ACSA"].mean()
        best_k = by_k.idxmax()
        print(
            f"EOS at {epochs} epochs, lr {lr:g}, per k: {by_k.round(2).to_dict()}; best: {best_k}"
        )


if __name__ == "__main__":
    main()
