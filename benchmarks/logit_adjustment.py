"""What post-hoc logit adjustment (Menon et al., ICLR 2021) would do to a finished run's scores.

Each test image's class probabilities are divided by the class's share of the images its
classifier was trained on, raised to ``tau``, and the largest wins. With ``tau = 1`` this is the
decision that maximises balanced accuracy (ACSA) when the probabilities follow the training
prior: it undoes the imbalance a method left (``sampler.target`` below the majority, or `none`).
The prior is the one the workflow's ``classifier.logit_adjustment`` uses, recorded in each
model.pt (the class shares of the images it was fitted on; uniform for `weighted`, whose loss
already weighs the classes equally); for models saved before that, the fold's real images plus
the balanced set's added ones. Reads the run's ``predictions.csv`` files (after
``classifier.test_time_flip`` if the run used it; a run evaluated with logit adjustment has it
undone first, so ``tau`` is always the total) and prints ACSA / GM / F1 in % per method, test set
and ``tau``.

    python benchmarks/logit_adjustment.py results/fmnist_lt --tau 0 0.5 1
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from latentbalance.data.splits import fold_indices
from latentbalance.nets.model_files import read_model_file, training_prior
from latentbalance.rebalance.methods import parse_method
from latentbalance.verdict.metrics import compute_metrics


def training_counts(
    results: Path, fold: int, method_id: str, arch: str, labels, class_names
) -> np.ndarray:
    """Images per class (or their shares) the classifier of this method and fold was trained on."""
    model = results / f"fold{fold}" / "classifier" / method_id / arch / "model.pt"
    if model.exists():
        spec = read_model_file(model)["spec"]
        if "fit_counts" in spec:
            return training_prior(spec)
    if parse_method(method_id).class_weighted:
        return np.ones(len(class_names))
    train = fold_indices(results / "split/split.npz", results / "split/folds.npz", fold)["train"]
    counts = np.bincount(labels[train], minlength=len(class_names)).astype(float)
    balanced = results / f"fold{fold}" / "balanced" / f"{method_id}.json"
    if balanced.exists():
        per_class = json.loads(balanced.read_text())["per_class"]
        for c, name in enumerate(class_names):
            counts[c] += per_class[name]["synthetic"] + per_class[name].get("repeated", 0)
    return counts


def adjusted_scores(predictions: pd.DataFrame, counts, class_names, tau: float) -> dict:
    probabilities = predictions[[f"p_{name}" for name in class_names]].to_numpy()
    # a class the classifier never saw keeps the rarest seen class's adjustment, not an infinite one
    prior = np.maximum(counts, counts[counts > 0].min()) / counts.sum()
    scores = np.log(np.maximum(probabilities, 1e-12)) - tau * np.log(prior)
    return compute_metrics(predictions["true"].to_numpy(), scores.argmax(1), len(class_names))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results/<dataset> of a finished run")
    parser.add_argument("--tau", type=float, nargs="+", default=[0.0, 1.0])
    parser.add_argument("--out", type=Path, help="also write the table as CSV")
    args = parser.parse_args(argv)
    with np.load(args.results / "data/images.npz", allow_pickle=False) as data:
        labels, class_names = data["labels"], [str(name) for name in data["class_names"]]
    rows = []
    for path in sorted(args.results.glob("fold*/eval/*/*/*/predictions.csv")):
        fold, _, method_id, arch, testset = path.parts[-6:-1]
        fold = int(fold.removeprefix("fold"))
        counts = training_counts(args.results, fold, method_id, arch, labels, class_names)
        predictions = pd.read_csv(path)
        # probabilities the run already adjusted (classifier.logit_adjustment) are undone first
        applied = json.loads((path.parent / "metrics.json").read_text()).get("logit_adjustment", 0)
        for tau in args.tau:
            scores = adjusted_scores(predictions, counts, class_names, tau - applied)
            rows.append(
                {"testset": testset, "method": method_id, "classifier": arch, "fold": fold,
                 "tau": tau, **{k: 100 * scores[k] for k in ("acsa", "gmean_macro", "macro_f1")}}
            )  # fmt: skip
    keys = ["testset", "method", "classifier", "tau"]
    table = pd.DataFrame(rows).groupby(keys).agg(
        folds=("fold", "nunique"), acsa=("acsa", "mean"), gm=("gmean_macro", "mean"),
        f1=("macro_f1", "mean"),
    )  # fmt: skip
    if args.out:
        table.to_csv(args.out)
    print(table.round(2).reset_index().to_markdown(index=False))


if __name__ == "__main__":
    main()
