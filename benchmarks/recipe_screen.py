"""Choose a recipe on the folds' holdouts, never on the test sets; three screens, one sub-command
each: ``overlays`` (config alternatives, each a run of the workflow), ``evaluation`` (test-time
flip and the logit adjustment's τ, on a finished run's classifiers) and ``heads`` (the heads'
epochs, learning rate and EOS's k, on a finished run's backbones).

``overlays``: each alternative (an overlay on the base configs) runs in its own folder with
``testsets: [holdout]``, so the independent test sets are not even scored, and the table gives
every method's holdout ACSA (mean ± sd over the folds that ran) under each alternative, the best
marked per method. Each alternative is then compared with the first (the base) on the same
holdout images, as the summary compares models: the corrected resampled t over folds and a
stratified paired bootstrap over the holdout images.

    python benchmarks/recipe_screen.py overlays --out screens \
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

``evaluation``: every saved classifier of a finished run scored on its own fold's holdout with
and without test-time flip, and with each logit-adjustment τ, on the configured device and
precision of a default job (``compute.device: auto``), in the workflow's batches, as ``evaluate``
would. Prints holdout ACSA in % per model and setting, and the setting with the best mean ACSA
over the models.

    python benchmarks/recipe_screen.py evaluation results/fmnist_lt --tau 0 1

``heads``: for every finished backbone classifier of a run, each head (crt, smote-feat, eos)
trained as the workflow's ``train_head`` does (same features, seeds and sampling) under each
candidate of ``heads.epochs`` and ``heads.lr`` (cRT's own rate stays ``heads.crt_lr``; for
EOS, ``heads.eos_neighbors`` too), and
scored on the backbone's own fold's holdout (with test-time flip when asked, as ``evaluate``
would). The features are computed once per backbone, so a grid takes seconds per candidate.
Prints holdout ACSA in % per backbone, head and candidate; each epochs/lr candidate's mean over
every head, and each EOS k's mean over the EOS heads at the best epochs and lr.

    python benchmarks/recipe_screen.py heads results/fmnist_lt --backbones none ros smote-ae \
        --epochs 10 30 --lr 0.001 0.01 --eos-neighbors 5 10 20 --test-time-flip
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from itertools import product
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from latentbalance.data.image_dataset import ImageDataset
from latentbalance.data.splits import fold_indices, test_indices
from latentbalance.nets.model_files import load_classifier, training_prior
from latentbalance.rebalance.heads import penultimate_features, train_head_layer
from latentbalance.rebalance.methods import HEADS
from latentbalance.settings.recipes import Compute, HeadRecipe
from latentbalance.training.runtime import resolve
from latentbalance.training.tensors import to_unit_range
from latentbalance.verdict import bootstrap, comparison
from latentbalance.verdict.metrics import compute_metrics
from latentbalance.verdict.pages import bootstrap_p
from latentbalance.verdict.prediction import logit_adjusted, predict_proba

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


def run(name: str, overlay: Path | None, args) -> Path:
    """The workflow on the base configs (``args.configfile``) and ``overlay``, on the holdouts
    only, in ``args.out/name``; returns that folder."""
    folder = args.out / name
    folder.mkdir(parents=True, exist_ok=True)
    if args.reuse is not None:
        seed(folder, args.reuse)
    holdout_only = folder / "holdout-only.yaml"
    holdout_only.write_text(yaml.safe_dump({"testsets": ["holdout"]}))
    configfiles = [path.resolve() for path in args.configfile]
    files = [*configfiles, *([overlay] if overlay else []), holdout_only]
    command = [
        sys.executable, "-m", "snakemake", "--snakefile", str(REPO / "Snakefile"),
        "--directory", str(folder), "--cores", args.cores, "--configfile", *map(str, files),
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


def screen_overlays(args) -> None:
    """The ``overlays`` sub-command: run every alternative, then the table and the comparison."""
    folders = {name: run(name, overlay, args) for name, overlay in args.alternative}
    scores = pd.concat([holdout_scores(folder, name) for name, folder in folders.items()])
    scores.to_csv(args.out / "holdout.csv", index=False)
    versus = against_base(scores, folders)
    versus.to_csv(args.out / "against_base.csv", index=False)
    markdown = (
        table(scores).to_markdown(index=False)
        + "\n\n"
        + against_base_markdown(versus, chosen(scores, versus, args.alternative[0][0]))
    )
    (args.out / "holdout.md").write_text(markdown)
    print(markdown)


class FinishedRun:
    """A finished run's ``results/<dataset>``: its images, split and folds, its saved
    classifiers, and the device and precision a default job (``compute.device: auto``) uses."""

    def __init__(self, results: Path):
        self.results = results
        self.dataset = ImageDataset.load(results / "data" / "images.npy")
        self.split, self.folds = results / "split" / "split.npz", results / "split" / "folds.npz"
        self.device, self.precision = resolve(Compute.from_config({"device": "auto"}))

    def classifiers(self, method: str = "*"):
        """(model, spec) of every saved classifier of ``method`` (all by default), fold by fold."""
        for path in sorted(self.results.glob(f"fold*/classifier/{method}/*/model.pt")):
            yield load_classifier(path)

    def holdout(self, fold: int) -> np.ndarray:
        return test_indices(self.split, self.folds, fold, "holdout")

    def score(self, indices: np.ndarray, probabilities) -> dict:
        """compute_metrics of the decisions ``probabilities`` give on the images ``indices``."""
        labels = self.dataset.labels[indices]
        return compute_metrics(labels, probabilities.argmax(1), self.dataset.n_classes)


EVALUATION_METRICS = {"acsa": "ACSA", "gmean_macro": "GM", "macro_f1": "F1"}


def evaluation_scores(finished: FinishedRun, taus: list[float], batch_size: int) -> pd.DataFrame:
    """Holdout ACSA / GM / F1 in % of every saved classifier, with and without test-time flip,
    under each logit-adjustment τ."""
    rows = []
    for model, spec in finished.classifiers():
        indices = finished.holdout(spec["fold"])
        images = to_unit_range(finished.dataset.images[indices])
        for flip in (False, True):
            probabilities = predict_proba(model, images, batch_size, finished.device, flip)
            for tau in taus:
                adjusted = logit_adjusted(probabilities, training_prior(spec), tau)
                scores = finished.score(indices, adjusted)
                row = {"model": spec["method"], "fold": spec["fold"], "flip": flip, "tau": tau}
                rows.append(row | {n: 100 * scores[k] for k, n in EVALUATION_METRICS.items()})
    return pd.DataFrame(rows)


def screen_evaluation(args) -> None:
    """The ``evaluation`` sub-command: the table per model and setting, and the best setting."""
    scores = evaluation_scores(FinishedRun(args.results), args.tau, args.batch_size)
    wide = scores.pivot_table(index=["model", "fold"], columns=["flip", "tau"], values="ACSA")
    wide.columns = [f"flip {'on' if f else 'off'}, τ {t:g}" for f, t in wide.columns]
    print("Holdout ACSA (%) per model and evaluation setting\n")
    print(wide.round(2).reset_index().to_markdown(index=False))
    means = wide.mean()
    print(f"\nMean over the models: {means.round(2).to_dict()}; best: {means.idxmax()}")


# the batches in which the heads' features are computed, as train_head computes them
FEATURE_BATCH = 256


def backbone_features(finished: FinishedRun, model, fold: int, flip: bool):
    """A backbone's features of its fold's training images (NumPy, what a head trains on), their
    labels, and its features of the fold's holdout images (one view, two with the mirrored)."""
    train = fold_indices(finished.split, finished.folds, fold)["train"]
    holdout = to_unit_range(finished.dataset.images[finished.holdout(fold)])
    views = [holdout, holdout.flip(-1)] if flip else [holdout]
    features = [
        penultimate_features(model, images, FEATURE_BATCH, finished.device, finished.precision)
        for images in [to_unit_range(finished.dataset.images[train]), *views]
    ]
    return features[0].numpy(), finished.dataset.labels[train], features[1:]


def head_grid(args):
    """(head, epochs, lr, k) of every candidate; k is EOS's alone, the other heads take the
    first."""
    for head, epochs, lr, k in product(args.heads, args.epochs, args.lr, args.eos_neighbors):
        if head == "eos" or k == args.eos_neighbors[0]:
            yield head, epochs, lr, k


def head_scores(finished: FinishedRun, args) -> pd.DataFrame:
    """Holdout ACSA in % of every head candidate on every backbone classifier asked."""
    rows = []
    for backbone in args.backbones:
        for model, spec in finished.classifiers(backbone):
            fold = spec["fold"]
            features, labels, views = backbone_features(finished, model, fold, args.test_time_flip)
            for head, epochs, lr, k in head_grid(args):
                method_id = f"{backbone}@{head}"
                recipe = HeadRecipe.from_config({"epochs": epochs, "lr": lr, "eos_neighbors": k})
                layer, _, _ = train_head_layer(
                    head,
                    features,
                    labels,
                    finished.dataset.n_classes,
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
                acsa = finished.score(finished.holdout(fold), probabilities)["acsa"]
                rows.append(
                    {"model": method_id, "head": head, "fold": fold, "epochs": epochs, "lr": lr}
                    | {"k": k, "ACSA": 100 * acsa}
                )
    return pd.DataFrame(rows)


def screen_heads(args) -> None:
    """The ``heads`` sub-command: the table per head and candidate, the best epochs and lr over
    every head, then EOS's best k at those."""
    scores = head_scores(FinishedRun(args.results), args)
    wide = scores.pivot_table(index=["model", "fold"], columns=["epochs", "lr", "k"], values="ACSA")
    wide.columns = [f"{e} epochs, lr {lr:g}, k {k}" for e, lr, k in wide.columns]
    print("Holdout ACSA (%) per head and setting (k: EOS's neighbours; other heads: the first)\n")
    print(wide.round(2).reset_index().to_markdown(index=False))
    means = scores[scores["k"] == args.eos_neighbors[0]].groupby(["epochs", "lr"])["ACSA"].mean()
    epochs, lr = (int(means.idxmax()[0]), float(means.idxmax()[1]))
    print(
        f"\nMean over the heads per (epochs, lr): {means.round(2).to_dict()}; best: {(epochs, lr)}"
    )
    eos = scores[(scores["head"] == "eos") & (scores["epochs"] == epochs) & (scores["lr"] == lr)]
    if not eos.empty:
        by_k = eos.groupby("k")["ACSA"].mean()
        print(
            f"EOS at {epochs} epochs, lr {lr:g}, per k: {by_k.round(2).to_dict()}; "
            f"best: {by_k.idxmax()}"
        )


def argument_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    overlays = commands.add_parser("overlays", help="config alternatives, each a workflow run")
    overlays.add_argument("--configfile", nargs="+", required=True, type=Path)
    overlays.add_argument("--alternative", nargs="+", required=True, type=alternative)
    overlays.add_argument("--out", type=Path, required=True)
    overlays.add_argument("--cores", default="all")
    overlays.add_argument(
        "--reuse", type=finished_run, metavar="DIR", help="start from the finished base run in DIR"
    )
    overlays.set_defaults(screen=screen_overlays)
    evaluation = commands.add_parser("evaluation", help="test-time flip and logit adjustment τ")
    evaluation.add_argument("results", type=Path, help="results/<dataset> of a run")
    evaluation.add_argument("--tau", type=float, nargs="+", default=[0.0, 1.0])
    evaluation.add_argument("--batch-size", type=int, default=128, help="the classifier's batches")
    evaluation.set_defaults(screen=screen_evaluation)
    heads = commands.add_parser("heads", help="the heads' epochs, lr and EOS's k")
    heads.add_argument("results", type=Path, help="results/<dataset> of a run")
    heads.add_argument("--backbones", nargs="+", default=["none"])
    heads.add_argument("--heads", nargs="+", default=list(HEADS), choices=HEADS)
    heads.add_argument("--epochs", type=int, nargs="+", default=[10])
    heads.add_argument("--lr", type=float, nargs="+", default=[0.001])
    heads.add_argument("--eos-neighbors", type=int, nargs="+", default=[10])
    heads.add_argument("--seed", type=int, default=42, help="the run's config seed")
    heads.add_argument("--test-time-flip", action="store_true")
    heads.set_defaults(screen=screen_heads)
    return parser


def main():
    arguments = argument_parser()
    args = arguments.parse_args()
    if args.command == "overlays":
        names = [name for name, _ in args.alternative]
        if len(set(names)) < len(names):
            arguments.error(f"alternative names repeat: {names}")
    args.screen(args)


if __name__ == "__main__":
    main()
