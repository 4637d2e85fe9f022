"""Choose a recipe on the folds' holdouts, never on the test sets: each alternative (an overlay on
the base configs) runs in its own folder with ``testsets: [holdout]``, so the independent test
sets are not even scored, and the table gives every method's holdout ACSA (mean ± sd over the
folds that ran) under each alternative, the best marked per method.

    python benchmarks/recipe_screen.py --out screens \
        --configfile config/fmnist-lt.yaml benchmarks/configs/fmnist-lt-five-folds.yaml \
        --alternative recipe no-cutmix=benchmarks/configs/screen-no-cutmix.yaml

An alternative is ``NAME=OVERLAY`` (a config file layered last), or a bare ``NAME`` for the base
configs as they are. Each runs the real workflow (``snakemake --directory <out>/<name>``): the
seed, and so the split and the folds, are the same for all; a rerun reuses what finished. The
table goes to ``<out>/holdout.md`` and ``<out>/holdout.csv``. Afterwards, run the chosen
alternative once with the test sets, and say in RESULTS.md what was chosen on what.

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

REPO = Path(__file__).resolve().parents[1]


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
    return frame.assign(alternative=name)[["alternative", "dataset", "model", "fold", "acsa"]]


def table(scores: pd.DataFrame) -> pd.DataFrame:
    """Rows dataset and model, a column per alternative: holdout ACSA in %, mean ± sd (folds);
    the best alternative of each model marked."""
    summary = (
        scores.groupby(["dataset", "model", "alternative"], sort=False)["acsa"]
        .agg(["mean", "std", "count"])
        .reset_index()
    )
    best = summary.loc[summary.groupby(["dataset", "model"])["mean"].idxmax()]
    marked = set(zip(best["dataset"], best["model"], best["alternative"], strict=True))

    def cell(row) -> str:
        spread = f" ± {100 * row['std']:.2f}" if row["count"] > 1 else ""
        mark = " **best**" if (row["dataset"], row["model"], row["alternative"]) in marked else ""
        return f"{100 * row['mean']:.2f}{spread} ({row['count']}){mark}"

    summary["cell"] = summary.apply(cell, axis=1)
    wide = summary.pivot(index=["dataset", "model"], columns="alternative", values="cell")
    return wide[list(dict.fromkeys(scores["alternative"]))].reset_index()


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
    scores = pd.concat(
        [
            holdout_scores(run(name, overlay, configfiles, args.out, args.cores, args.reuse), name)
            for name, overlay in args.alternative
        ]
    )
    scores.to_csv(args.out / "holdout.csv", index=False)
    markdown = table(scores).to_markdown(index=False)
    (args.out / "holdout.md").write_text(markdown + "\n")
    print(markdown)


if __name__ == "__main__":
    main()
