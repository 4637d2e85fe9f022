"""Choose the evaluation settings on the folds' holdouts, never on the test sets: every saved
classifier of a run scored on its own fold's holdout with and without test-time flip, and with
each logit-adjustment τ. Prints holdout ACSA / GM / F1 in % per model and setting, and the
setting with the best mean ACSA over the models.

    python benchmarks/holdout_choices.py results/fmnist_lt --tau 0 1

Runs on the configured device and precision of a default job (``compute.device: auto``), in the
workflow's batches, as ``evaluate`` would.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from latentbalance.data.sources import ImageDataset
from latentbalance.data.splits import test_indices
from latentbalance.nets.model_files import load_classifier, training_prior
from latentbalance.settings.recipes import Compute
from latentbalance.training.runtime import resolve
from latentbalance.training.tensors import to_unit_range
from latentbalance.verdict.metrics import compute_metrics
from latentbalance.verdict.prediction import logit_adjusted, predict_proba

METRICS = {"acsa": "ACSA", "gmean_macro": "GM", "macro_f1": "F1"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="results/<dataset> of a run")
    parser.add_argument("--tau", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--batch-size", type=int, default=128, help="the classifier's batches")
    args = parser.parse_args()
    dataset = ImageDataset.load(args.results / "data" / "images.npz")
    split, folds = args.results / "split" / "split.npz", args.results / "split" / "folds.npz"
    device, precision = resolve(Compute.from_config({"device": "auto"}))
    rows = []
    for path in sorted(args.results.glob("fold*/classifier/*/*/model.pt")):
        model, spec = load_classifier(path)
        indices = test_indices(split, folds, spec["fold"], "holdout")
        images = to_unit_range(dataset.images[indices])
        for flip in (False, True):
            probabilities = predict_proba(model, images, args.batch_size, device, precision, flip)
            for tau in args.tau:
                adjusted = logit_adjusted(probabilities, training_prior(spec), tau)
                scores = compute_metrics(
                    dataset.labels[indices], adjusted.argmax(1), dataset.n_classes
                )
                row = {"model": spec["method"], "fold": spec["fold"], "flip": flip, "tau": tau}
                rows.append(row | {name: 100 * scores[key] for key, name in METRICS.items()})
    table = pd.DataFrame(rows)
    wide = table.pivot_table(index=["model", "fold"], columns=["flip", "tau"], values="ACSA")
    wide.columns = [f"flip {'on' if f else 'off'}, τ {t:g}" for f, t in wide.columns]
    print("Holdout ACSA (%) per model and evaluation setting\n")
    print(wide.round(2).reset_index().to_markdown(index=False))
    means = wide.mean()
    print(f"\nMean over the models: {means.round(2).to_dict()}; best: {means.idxmax()}")


if __name__ == "__main__":
    main()
