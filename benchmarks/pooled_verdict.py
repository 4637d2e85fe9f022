"""The summary's verdict over the evaluations of several runs of one dataset: for example runs
made one fold at a time (``run_folds``), or methods that finished on some folds only, where no
single run's summary holds them all. Reads every finished
``fold<k>/eval/<method>/<arch>/<testset>/{metrics.json,predictions.csv}`` under the results
folder, keeps the folds on which every model finished every test set, and writes what the
workflow's summary writes: the model selected on the holdouts, each model against it by the
corrected resampled t over folds and the stratified paired bootstrap over the test images (a
difference is significant only when both agree), Friedman / Nemenyi and the
critical-difference diagram.

    python benchmarks/pooled_verdict.py results/fmnist_lt --out pooled \
        --configfile config/fmnist-lt.yaml

``--configfile`` (the run's config files, in order) gives the sampler, autoencoder, loss and head
settings and ``classifier.by_method`` that label the models, the test sets' order and the
bootstrap's resamples and seed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml
from snakemake.utils import update_config

from latentbalance.settings.check import check_config
from latentbalance.verdict import summary


def merged(configfiles) -> dict:
    """The config files layered as ``--configfile`` layers them (Snakemake's own merge: later
    keys win, nested blocks merge), checked and with the schema's defaults."""
    config: dict = {}
    for path in configfiles:
        update_config(config, yaml.safe_load(Path(path).read_text()) or {})
    return check_config(config)


def complete_folds(evaluations: dict, testsets: list[str]) -> tuple[list[int], list[str]]:
    """The folds on which every model has every test set, and a line per model that finished
    on other folds too (its extra folds are left out so that every comparison is paired)."""
    models = {(m, a) for (_, m, a, _) in evaluations}
    folds = sorted({f for (f, *_) in evaluations})
    done = {
        (m, a): {f for f in folds if all((f, m, a, t) in evaluations for t in testsets)}
        for (m, a) in models
    }
    common = sorted(set.intersection(*done.values())) if done else []
    notes = [
        f"{m} / {a}: folds {sorted(have - set(common))} left out (not every model has them)"
        for (m, a), have in sorted(done.items())
        if have - set(common)
    ]
    return common, notes


# the pooled summary's files, by the names the workflow's summary gives them
FILES = {
    "per_fold": "metrics_per_fold.csv",
    "leaderboard": "leaderboard.csv",
    "markdown": "leaderboard.md",
    "plot": "leaderboard.png",
    "comparison": "comparison.csv",
    "significance": "significance.csv",
    "critical_difference": "critical_difference.png",
    "html": "leaderboard.html",
    "headline": "headline.txt",
}


def summary_settings(config: dict, name: str) -> summary.SummarySettings:
    """The summary's settings of dataset ``name`` from the run's merged config."""
    return summary.SummarySettings(
        name,
        metric=config["summary"]["metric"],
        alpha=config["summary"]["alpha"],
        testsets=list(config["testsets"]),
        bootstrap_resamples=config["summary"]["bootstrap_resamples"],
        seed=config["seed"],
        sampler=config["sampler"],
        autoencoder=config["autoencoder"],
        losses=config["losses"],
        heads=config["heads"],
        by_method=config["classifier"]["by_method"],
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("results", type=Path, help="results/<dataset> of the runs")
    parser.add_argument("--out", type=Path, required=True, help="folder for the pooled summary")
    parser.add_argument("--configfile", nargs="+", required=True, help="the run's config files")
    parser.add_argument("--methods", nargs="+", help="only these method ids (default: all)")
    args = parser.parse_args()
    config = merged(args.configfile)
    testsets = list(config["testsets"])
    evaluations = {}
    for path in sorted(args.results.glob("fold*/eval/*/*/*/metrics.json")):
        fold, method, arch, testset = path.parts[-6], path.parts[-4], path.parts[-3], path.parts[-2]
        if testset in testsets and (args.methods is None or method in args.methods):
            evaluations[int(fold.removeprefix("fold")), method, arch, testset] = path
    missing = sorted(set(args.methods or []) - {m for (_, m, _, _) in evaluations})
    if missing:
        sys.exit(f"{args.results}: no finished evaluation of {', '.join(missing)}")
    folds, notes = complete_folds(evaluations, testsets)
    if not folds:
        sys.exit(f"{args.results}: no fold on which every model finished {', '.join(testsets)}")
    print(f"folds {folds}", *notes, sep="\n", file=sys.stderr)
    chosen = sorted(p for (f, *_), p in evaluations.items() if f in folds)
    # the nearest-neighbour check of each generating method's balanced sets on those folds
    methods = {m for (_, m, _, _) in evaluations}
    checks = [
        path
        for fold in folds
        for path in sorted(args.results.glob(f"fold{fold}/balanced/*.neighbours.json"))
        if path.name.removesuffix(".neighbours.json") in methods
    ]
    args.out.mkdir(parents=True, exist_ok=True)
    summary.summarize(
        {
            "metrics": chosen,
            "predictions": [p.with_name("predictions.csv") for p in chosen],
            "checks": checks,
        },
        summary_settings(config, args.results.name),
        {key: args.out / file for key, file in FILES.items()},
    )


if __name__ == "__main__":
    main()
