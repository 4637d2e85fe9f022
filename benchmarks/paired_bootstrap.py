"""How far one fold can be trusted: a paired bootstrap of the difference between two methods.

On a single fold the FashionMNIST-LT methods end within a point of each other, and the imbalanced
test set's rare classes have 10-25 images (one ankle boot is a point of ACSA). This resamples a
finished run's test images with replacement within each class, the same images for both
methods, and recomputes ACSA, macro G-mean (one-vs-rest, DeepSMOTE's GM) and macro F1 of each
from its ``predictions.csv`` (as the run evaluated them: after test-time flip and logit
adjustment, if configured). It measures what the test images leave uncertain, not what another
seed or fold would change. Prints, per fold, classifier and test set, A - B in
points, its 95 % percentile interval and the share of resamples in which A was ahead.

With ``--redraws N`` it also asks what another draw of the imbalanced test set would give: the
protocol draws ``test_imbalanced`` once from the balanced ``test`` (1000 ... 10 per class on
FashionMNIST-LT), so which ten ankle boots it holds is chance. Each redraw takes a fresh
subsample of ``test`` with ``test_imbalanced``'s class counts, without replacement, the same
images for both methods; the row ``test_imbalanced redrawn`` gives A - B averaged over the
redraws, the 95 % interval of the redraws, and the share of them in which A was ahead.

    python benchmarks/paired_bootstrap.py results/fmnist_lt smote-ae ros
    python benchmarks/paired_bootstrap.py results/fmnist_lt smote-ae ros --redraws 1000
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from latentbalance.verdict.metrics import compute_metrics

METRICS = {"acsa": "ACSA", "gmean_macro": "GM", "macro_f1": "F1"}


def read_predictions(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, usecols=["index", "true", "predicted"]).set_index("index")


def paired_difference(true, predicted_a, predicted_b, n_classes, resamples, seed) -> dict:
    """A - B on the test set, and over ``resamples`` stratified paired resamples: each class's
    images drawn with replacement within the class (a test set's class counts are fixed by its
    design, and a class left out would make ACSA undefined), the same draw for both methods."""

    def difference(index):
        scores_a = compute_metrics(true[index], predicted_a[index], n_classes)
        scores_b = compute_metrics(true[index], predicted_b[index], n_classes)
        return np.array([scores_a[m] - scores_b[m] for m in METRICS])

    observed = difference(np.arange(len(true)))
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(true == c) for c in np.unique(true)]
    draws = np.array(
        [
            difference(np.concatenate([rng.choice(m, len(m)) for m in members]))
            for _ in range(resamples)
        ]
    )
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    ahead = (draws > 0).mean(axis=0)
    row = {}
    for i, name in enumerate(METRICS.values()):
        row[f"{name} A-B"] = round(100 * observed[i], 2)
        row[f"{name} 95% interval"] = f"{100 * low[i]:+.2f} … {100 * high[i]:+.2f}"
        row[f"{name} A ahead"] = round(float(ahead[i]), 3)
    return row


def redrawn_difference(true, predicted_a, predicted_b, counts, n_classes, redraws, seed) -> dict:
    """A - B over ``redraws`` subsamples of a test set with ``counts[c]`` images of class c,
    drawn without replacement, the same draw for both methods."""
    rng = np.random.default_rng(seed)
    members = [np.flatnonzero(true == c) for c in range(n_classes)]
    draws = []
    for _ in range(redraws):
        index = np.concatenate(
            [rng.choice(m, n, replace=False) for m, n in zip(members, counts, strict=True)]
        )
        scores_a = compute_metrics(true[index], predicted_a[index], n_classes)
        scores_b = compute_metrics(true[index], predicted_b[index], n_classes)
        draws.append([scores_a[m] - scores_b[m] for m in METRICS])
    draws = np.array(draws)
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    row = {}
    for i, name in enumerate(METRICS.values()):
        row[f"{name} A-B"] = round(100 * draws[:, i].mean(), 2)
        row[f"{name} 95% interval"] = f"{100 * low[i]:+.2f} … {100 * high[i]:+.2f}"
        row[f"{name} A ahead"] = round(float((draws[:, i] > 0).mean()), 3)
    return row


def redraw_rows(results, method_a, method_b, n_classes, redraws, seed) -> list[dict]:
    """One ``test_imbalanced redrawn`` row per fold and classifier that evaluated both test sets."""
    rows = []
    for imbalanced in sorted(results.glob(f"fold*/eval/{method_a}/*/test_imbalanced")):
        fold, _, _, arch = imbalanced.parts[-5:-1]
        balanced_a = imbalanced.parent / "test" / "predictions.csv"
        balanced_b = results / fold / "eval" / method_b / arch / "test" / "predictions.csv"
        if not (balanced_a.exists() and balanced_b.exists()):
            continue
        a, b = read_predictions(balanced_a), read_predictions(balanced_b)
        drawn = read_predictions(imbalanced / "predictions.csv")
        if not drawn.index.isin(a.index).all():
            raise SystemExit(
                f"{imbalanced / 'predictions.csv'} holds images that {balanced_a} does not: "
                "--redraws needs test_imbalanced to be a subsample of test, as the workflow "
                "makes it"
            )
        counts = np.bincount(drawn["true"].to_numpy(), minlength=n_classes)
        row = {"fold": int(fold.removeprefix("fold")), "classifier": arch}
        row |= {"testset": "test_imbalanced redrawn", "images": int(counts.sum())}
        row |= redrawn_difference(
            a["true"].to_numpy(),
            a["predicted"].to_numpy(),
            b.loc[a.index, "predicted"].to_numpy(),
            counts,
            n_classes,
            redraws,
            seed,
        )
        rows.append(row)
    return rows


def compare(
    results: Path, method_a: str, method_b: str, resamples: int, seed: int, redraws: int = 0
):
    with np.load(results / "data/images.npz", allow_pickle=False) as data:
        n_classes = len(data["class_names"])
    rows = []
    for path_a in sorted(results.glob(f"fold*/eval/{method_a}/*/*/predictions.csv")):
        fold, _, _, arch, testset = path_a.parts[-6:-1]
        path_b = results / fold / "eval" / method_b / arch / testset / "predictions.csv"
        if not path_b.exists():
            continue
        a, b = read_predictions(path_a), read_predictions(path_b)
        if not a.index.equals(b.index) or not (a["true"] == b["true"]).all():
            raise SystemExit(
                f"{path_a} and {path_b} do not classify the same test images: "
                "compare methods of one run (same split and test sets)"
            )
        row = {"fold": int(fold.removeprefix("fold")), "classifier": arch, "testset": testset}
        row["images"] = len(a)
        row |= paired_difference(
            a["true"].to_numpy(),
            a["predicted"].to_numpy(),
            b["predicted"].to_numpy(),
            n_classes,
            resamples,
            seed,
        )
        rows.append(row)
    if rows and redraws:
        rows += redraw_rows(results, method_a, method_b, n_classes, redraws, seed)
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results/<dataset> of a finished run")
    parser.add_argument("method_a", help="method id, e.g. smote-ae")
    parser.add_argument("method_b", help="method id to compare against, e.g. ros")
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument(
        "--redraws",
        type=int,
        default=0,
        help="also redraw the imbalanced test set this many times from the balanced one",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="also write the table as CSV")
    args = parser.parse_args(argv)
    table = compare(
        args.results, args.method_a, args.method_b, args.resamples, args.seed, args.redraws
    )
    if table.empty:
        print(
            f"no test set of {args.results} was evaluated for both {args.method_a} and "
            f"{args.method_b} (looked for fold*/eval/<method>/<classifier>/<testset>/"
            "predictions.csv); run the workflow with both in `methods`",
            file=sys.stderr,
        )
        return 1
    print(f"A = {args.method_a}, B = {args.method_b}; differences in points")
    print(table.to_markdown(index=False))
    if args.out:
        table.to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
