"""Our FashionMNIST-LT numbers beside DeepSMOTE's published ones (Dablain et al., TNNLS 2022):
ACSA / GM / F1 in %, per method, mean ± sd over the folds that ran, for the imbalanced test set
(their Table II) and the balanced one (their Table III). GM is imbalanced-learn's
``geometric_mean_score(average='macro')``, the one DeepSMOTE reports.

    python benchmarks/fmnist_lt_table.py results/fmnist_lt/summary/metrics_per_fold.csv
    python benchmarks/fmnist_lt_table.py results/fmnist_lt   # the evaluations that finished
    python benchmarks/fmnist_lt_table.py results/fmnist_lt --ceiling results/fmnist_balanced_ceiling

With ``holdout`` evaluations, a column gives each model's holdout ACSA, the one to choose on; the
model with the highest, among those evaluated on the most folds, is marked. ``--ceiling`` adds
the same recipe trained on a balanced set of the same size
(benchmarks/configs/fmnist-lt-ceiling.yaml).

The second form reads every ``fold*/eval/*/*/*/metrics.json`` of the run, so a run cut short (a
time-limited GPU check) still gives its table.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

METRICS = {"acsa": "ACSA", "gmean_macro": "GM", "macro_f1": "F1"}
# Published, FashionMNIST, ResNet-18 classifier; (ACSA, GM, F1) in %
PUBLISHED = {
    "test_imbalanced": {
        "DeepSMOTE (published)": (84.88, 91.63, 83.79),
        "GAMO (published)": (83.05, 90.76, 83.00),
        "BAGAN (published)": (82.50, 90.51, 82.96),
        "pixel SMOTE (published)": (67.94, 74.84, 67.12),
    },
    "test": {"DeepSMOTE (published)": (83.63, 90.61, 83.27)},
}
TITLES = {
    "test_imbalanced": "Imbalanced test set (1000 … 10 per class; DeepSMOTE's Table II)",
    "test": "Balanced test set (DeepSMOTE's Table III)",
}


def cell(values: pd.Series) -> str:
    values = values * 100
    if len(values) == 1:
        return f"{values.iloc[0]:.2f}"
    return f"{values.mean():.2f} ± {values.std(ddof=1):.2f}"


def table(per_fold: pd.DataFrame, testset: str, ceiling: pd.DataFrame | None = None):
    ours = per_fold[per_fold["testset"] == testset]
    holdout = per_fold[per_fold["testset"] == "holdout"].groupby(["method", "classifier"])["acsa"]
    # chosen among the models with the most folds: a mean over fewer folds is another draw
    folds = holdout.count()
    selected = holdout.mean()[folds == folds.max()].idxmax() if len(holdout) else None
    rows = []
    for (method, classifier), group in ours.groupby(["method", "classifier"]):
        mark = " ← selected on holdout" if (method, classifier) == selected else ""
        row = {"method": f"{method} ({classifier}, ours){mark}", "folds": group["fold"].nunique()}
        row.update({name: cell(group[column]) for column, name in METRICS.items()})
        if len(holdout):
            key = (method, classifier)
            row["holdout ACSA"] = cell(holdout.get_group(key)) if key in holdout.groups else "–"
        row["_sort"] = group["acsa"].mean() * 100
        rows.append(row)
    if ceiling is not None:
        for (method, classifier), group in ceiling[ceiling["testset"] == testset].groupby(
            ["method", "classifier"]
        ):
            name = f"ceiling: {method} on a balanced set of the same size ({classifier}, ours)"
            row = {"method": name, "folds": group["fold"].nunique()}
            row.update({name: cell(group[column]) for column, name in METRICS.items()})
            row["_sort"] = group["acsa"].mean() * 100
            rows.append(row)
    for method, values in PUBLISHED.get(testset, {}).items():
        row = {"method": method, "folds": "–"}
        published = zip(METRICS.values(), values, strict=True)
        row.update({name: f"{value:.2f}" for name, value in published})
        row["_sort"] = values[0]
        rows.append(row)
    frame = pd.DataFrame(rows).sort_values("_sort", ascending=False).drop(columns="_sort")
    return frame.fillna("–")


def read_per_fold(source: Path) -> pd.DataFrame:
    """summary/metrics_per_fold.csv, or the metrics.json of every finished evaluation of a run."""
    if source.is_file():
        return pd.read_csv(source)
    evaluations = sorted(source.glob("fold*/eval/*/*/*/metrics.json"))
    if not evaluations:
        raise SystemExit(f"{source}: no fold*/eval/*/*/*/metrics.json (no evaluation finished)")
    return pd.DataFrame([json.loads(path.read_text()) for path in evaluations])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "metrics",
        type=Path,
        help="summary/metrics_per_fold.csv of the run, or its results/<dataset> folder",
    )
    parser.add_argument("--ceiling", type=Path, help="the same for the balanced ceiling run")
    args = parser.parse_args()
    per_fold = read_per_fold(args.metrics)
    ceiling = read_per_fold(args.ceiling) if args.ceiling else None
    for testset in ("test_imbalanced", "test"):
        if testset not in set(per_fold["testset"]):
            continue
        print(f"\n{TITLES[testset]}\n")
        print(table(per_fold, testset, ceiling).to_markdown(index=False))


if __name__ == "__main__":
    main()
