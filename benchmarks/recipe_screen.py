"""Choose a recipe on the folds' holdouts, never on the test sets: each alternative (an overlay on
the base configs) runs in its own folder with ``testsets: [holdout]``, so the independent test
sets are not even scored, and the table gives every method's holdout ACSA (mean ± sd over the
folds that ran) under each alternative, the best marked per method. Each alternative is then
compared with the first (the base) on the same holdout images, as the summary compares models:
the corrected resampled t over folds and a stratified paired bootstrap over the holdout images.

    python benchmarks/recipe_screen.py --out screens \
        --configfile config/fmnist-lt.yaml benchmarks/configs/fmnist-lt-five-folds.yaml \
        --alternative recipe no-cutmix=benchmarks/configs/fmnist-lt-screen-no-cutmix.yaml

An alternative is ``NAME=OVERLAY`` (a config file layered last), or a bare ``NAME`` for the base
configs as they are. Each runs the real workflow (``snakemake --directory <out>/<name>``): the
seed, and so the split and the folds, are the same for all; a rerun reuses what finished. The
table goes to ``<out>/holdout.md`` and ``<out>/holdout.csv``, the comparison with the base to
``<out>/against_base.csv`` and below the table.

The rule, fixed before the first screen ran: an alternative replaces the base for a method
only when it is better on the holdouts and significantly so (both tests agree; with a single fold
the t is undefined and the bootstrap decides alone); among several such, the highest holdout
mean. Otherwise the base stands: a holdout of a few thousand images, whose rarest class holds a
handful, moves by points between draws, and the best of five noisy columns is better than the
base by chance alone. Afterwards, run the chosen alternative once with the test sets, and say in
RESULTS.md what was chosen on what.

``--reuse DIR`` starts each alternative's folder from a finished run of the base configs in
workflow folder DIR (its ``results/`` and Snakemake's record of the settings each file was made
with), so that Snakemake reruns only the jobs an overlay changes: an overlay of classifier
settings reuses the split and the autoencoders. DIR's test-set evaluations and summaries stay
behind, and DIR itself is only read.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml

from latentbalance.verdict import bootstrap, comparison
from latentbalance.verdict.pages import bootstrap_p

REPO = Path(__file__).resolve().parents[1]
ALPHA = 0.05
RESAMPLES = 1000
# the summary's columns of a comparison, its reference being the base and its decision the rule's
OWN_COLUMNS = ("reference", "model", "significant", "decision")
AGAINST_BASE_COLUMNS = [
    "dataset", "run", "label", "alternative", "base",
    *[c for c in comparison.AGAINST_COLUMNS if c not in OWN_COLUMNS], "better", "decision",
]  # fmt: skip


def alternative(text: str) -> tuple[str, Path | None]:
    name, _, overlay = text.partition("=")
    if not name or "/" in name:
        raise argparse.ArgumentTypeError(f"{text!r}: give NAME=OVERLAY or NAME (no '/' in NAME)")
    if overlay and not Path(overlay).is_file():
        raise argparse.ArgumentTypeError(f"{text!r}: no config file {overlay}")
    return name, Path(overlay).resolve() if overlay else None


def finished_run(text: str) -> Path:
    folder = Path(text).resolve()
    if not (folder / "results").is_dir() or not (folder / ".snakemake" / "metadata").is_dir():
        # without the record of each file's settings, Snakemake would take every copied file as
        # up to date whatever the overlay changes
        raise argparse.ArgumentTypeError(
            f"{text}: not a finished workflow folder (it needs results/ and .snakemake/metadata/)"
        )
    return folder


def without_test_scores(folder: str, names: list[str]) -> list[str]:
    """What a copy leaves behind: every evaluation on a test set other than the holdout (laid out
    ``eval/<method>/<classifier>/<testset>``), and the summaries that report them."""
    if Path(folder).parent.parent.name == "eval":
        return [name for name in names if name != "holdout"]
    return [name for name in names if name == "summary"]


def seed(folder: Path, finished: Path) -> None:
    """Copy the finished run's results and its settings record into a new alternative's folder;
    copies keep their times, so Snakemake reruns a job only where its settings differ."""
    if (folder / "results").exists():
        return  # a rerun of the screen goes on from where this alternative stood
    shutil.copytree(finished / "results", folder / "results", ignore=without_test_scores)
    shutil.copytree(finished / ".snakemake" / "metadata", folder / ".snakemake" / "metadata")


def run(name, overlay, configfiles, out: Path, cores: str, reuse: Path | None = None) -> Path:
    """The workflow on the holdouts only, in ``out/name``; returns that folder."""
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    if reuse is not None:
        seed(folder, reuse)
    holdout_only = folder / "holdout-only.yaml"
    holdout_only.write_text(yaml.safe_dump({"testsets": ["holdout"]}))
    files = [*configfiles, *([overlay] if overlay else []), holdout_only]
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(folder), "--cores", cores, "--configfile", *map(str, files),
    ]  # fmt: skip
    print(f"recipe_screen: {name}: {' '.join(command)}", file=sys.stderr, flush=True)
    with open(folder / "snakemake.log", "w") as log:
        status = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT).returncode
    if status != 0:
        sys.exit(f"recipe_screen: {name} failed (exit {status}); log: {folder / 'snakemake.log'}")
    return folder


def holdout_scores(folder: Path, name: str) -> pd.DataFrame:
    tables = sorted(folder.glob("results/*/summary/metrics_per_fold.csv"))
    frame = pd.concat([pd.read_csv(t).assign(dataset=t.parts[-3]) for t in tables])
    frame = frame[frame["testset"] == "holdout"]
    # an overlay may change a model's label (``smote-ae (50 % synthetic)``): alternatives are
    # matched by what ran, the method and the classifier
    frame = frame.assign(alternative=name, run=frame["method"] + " / " + frame["classifier"])
    return frame[["alternative", "dataset", "run", "model", "method", "classifier", "fold", "acsa"]]


def holdout_predictions(folder: Path, dataset: str, method: str, classifier: str) -> dict:
    """fold -> the holdout predictions (index, true, predicted) of one model in one alternative."""
    pattern = f"results/{dataset}/fold*/eval/{method}/{classifier}/holdout/predictions.csv"
    found = bootstrap.read_predictions(sorted(folder.glob(pattern)))
    return found.get("holdout", {}).get((method, classifier), {})


def better_than_base(row: dict, alpha: float) -> tuple[bool, str]:
    """The screen's rule: better on the holdouts and significantly so by the summary's rule;
    with a single fold (no t) by the bootstrap alone. The reason says which way a significant
    difference goes."""
    direction = "better" if row["difference"] > 0 else "worse"
    if row["folds"] < 2:
        significant = comparison.bootstrap_says(row, alpha)
        verdict = f"significantly {direction}" if significant else "not significant"
        why = f"one fold, the bootstrap alone: {verdict}"
    else:
        significant, why = comparison.decide(row, alpha)
        why += f"; {direction}" if significant else ""
    return significant and row["difference"] > 0, why


def against_base(scores: pd.DataFrame, folders: dict[str, Path], seed: int = 0) -> pd.DataFrame:
    """Every alternative minus the base (the first) for every model both ran, on the folds both
    ran: holdout ACSA difference with the corrected t and the paired bootstrap, and whether the
    alternative beats the base by the screen's rule."""
    base, *others = list(folders)
    rows = []
    for (dataset, run, method, classifier), group in scores.groupby(
        ["dataset", "run", "method", "classifier"], sort=False
    ):
        per_fold = group.pivot_table(index="fold", columns="alternative", values="acsa")
        if base not in per_fold:
            continue
        predicted = {
            name: holdout_predictions(folders[name], dataset, method, classifier)
            for name in [base, *others]
            if name in per_fold
        }
        for name in [o for o in others if o in per_fold]:
            paired = per_fold[[name, base]].dropna()
            label = group.loc[group["alternative"] == name, "model"].iloc[0]
            row = {"dataset": dataset, "run": run, "label": label, "alternative": name}
            row["base"] = base
            row |= comparison.corrected_t((paired[name] - paired[base]).to_numpy())
            folds = {k: v for k, v in predicted[name].items() if k in paired.index}
            resampled = bootstrap.resampled_scores(
                {name: folds, base: predicted[base]}, RESAMPLES, seed
            )
            row |= comparison.bootstrap_difference(resampled[name]["acsa"], resampled[base]["acsa"])
            row["better"], row["decision"] = better_than_base(row, ALPHA)
            rows.append(row)
    return pd.DataFrame(rows, columns=AGAINST_BASE_COLUMNS)


def chosen(scores: pd.DataFrame, versus: pd.DataFrame, base: str) -> pd.DataFrame:
    """Per run (method / classifier), the alternative the rule picks: the best holdout mean among
    the base and the alternatives that beat it."""
    means = scores.groupby(["dataset", "run", "alternative"], sort=False)["acsa"].mean()
    picks = []
    for (dataset, run), group in means.groupby(level=["dataset", "run"], sort=False):
        beats = versus[(versus["dataset"] == dataset) & (versus["run"] == run)]
        winners = set(beats.loc[beats["better"], "alternative"])
        candidates = group.droplevel(["dataset", "run"])
        candidates = candidates[[a for a in candidates.index if a == base or a in winners]]
        picks.append({"dataset": dataset, "run": run, "chosen": candidates.idxmax()})
    return pd.DataFrame(picks)


def against_base_markdown(versus: pd.DataFrame, picks: pd.DataFrame) -> str:
    """The comparison with the base in points of holdout ACSA, and the pick per run."""
    if versus.empty:
        return "No alternative shares a model with the base.\n"

    def interval(low, high) -> str:
        return "–" if pd.isna(low) else f"[{100 * low:+.2f}, {100 * high:+.2f}]"

    rows = versus.to_dict("records")
    shown = pd.DataFrame(
        {
            "dataset": versus["dataset"],
            "run": versus["run"],
            "alternative − base": versus["alternative"] + " − " + versus["base"],
            "label under the alternative": versus["label"],
            "folds": versus["folds"],
            "difference": (100 * versus["difference"]).map("{:+.2f}".format),
            "corrected t 95 %": [interval(r["t_ci95_low"], r["t_ci95_high"]) for r in rows],
            "bootstrap 95 %": [
                interval(r["bootstrap_ci95_low"], r["bootstrap_ci95_high"]) for r in rows
            ],
            "p bootstrap": [bootstrap_p(r) for r in rows],
            "beats the base": versus["better"].map({True: "yes", False: "no"}),
            "why": versus["decision"],
        }
    )
    lines = [f"- {r.dataset}, {r.run}: **{r.chosen}**" for r in picks.itertuples()]
    return (
        "Against the base (holdout ACSA, points; positive: the alternative is better):\n\n"
        + shown.to_markdown(index=False, disable_numparse=True)
        + "\n\nChosen by the rule (the base unless an alternative beats it):\n\n"
        + "\n".join(lines)
        + "\n"
    )


def table(scores: pd.DataFrame) -> pd.DataFrame:
    """Rows dataset and run (method / classifier), a column per alternative: holdout ACSA in %,
    mean ± sd (folds); the best alternative of each run marked."""
    summary = (
        scores.groupby(["dataset", "run", "alternative"], sort=False)["acsa"]
        .agg(["mean", "std", "count"])
        .reset_index()
    )
    best = summary.loc[summary.groupby(["dataset", "run"])["mean"].idxmax()]
    marked = set(zip(best["dataset"], best["run"], best["alternative"], strict=True))

    def cell(row) -> str:
        spread = f" ± {100 * row['std']:.2f}" if row["count"] > 1 else ""
        mark = " **best**" if (row["dataset"], row["run"], row["alternative"]) in marked else ""
        return f"{100 * row['mean']:.2f}{spread} ({row['count']}){mark}"

    summary["cell"] = summary.apply(cell, axis=1)
    wide = summary.pivot(index=["dataset", "run"], columns="alternative", values="cell")
    wide = wide[list(dict.fromkeys(scores["alternative"]))].fillna("not run")
    return wide.reset_index()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", nargs="+", required=True, type=Path)
    parser.add_argument("--alternative", nargs="+", required=True, type=alternative)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--cores", default="all")
    parser.add_argument(
        "--reuse", type=finished_run, metavar="DIR", help="start from the finished base run in DIR"
    )
    args = parser.parse_args()
    names = [name for name, _ in args.alternative]
    if len(set(names)) < len(names):
        parser.error(f"alternative names repeat: {names}")
    configfiles = [path.resolve() for path in args.configfile]
    folders = {
        name: run(name, overlay, configfiles, args.out, args.cores, args.reuse)
        for name, overlay in args.alternative
    }
    scores = pd.concat([holdout_scores(folder, name) for name, folder in folders.items()])
    scores.to_csv(args.out / "holdout.csv", index=False)
    versus = against_base(scores, folders)
    versus.to_csv(args.out / "against_base.csv", index=False)
    markdown = (
        table(scores).to_markdown(index=False)
        + "\n\n"
        + against_base_markdown(versus, chosen(scores, versus, names[0]))
    )
    (args.out / "holdout.md").write_text(markdown)
    print(markdown)


if __name__ == "__main__":
    main()
