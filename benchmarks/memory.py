"""Peak memory and time of every rule of a run, from the files of Snakemake's ``benchmark:``
directives (``results/<dataset>/benchmarks/**/*.tsv``, one per job). Prints one markdown row per
rule: jobs, the largest peak RSS and USS of any of its jobs, and its slowest and total wall time;
rules over the limit are named on stderr and make the exit status 1.

Snakemake never deletes a benchmark file, so a results folder keeps those of rules that no longer
exist and of jobs another configuration ran. Given the run's config files, only the jobs of that
workflow and configuration count (the others are named on stderr):

    python benchmarks/memory.py results/fmnist_lt --configfile config/fmnist-lt.yaml
    python benchmarks/memory.py results/fmnist_lt --limit-mb 4000 --out memory.csv
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

# Snakemake writes these columns; max_rss / max_uss are in MB
COLUMNS = ["s", "max_rss", "max_uss"]


def read_benchmarks(benchmark_dir: Path) -> pd.DataFrame:
    """One row per job: its rule (the folder that holds the file, or the file's own name for
    per-dataset rules), its file, and Snakemake's measurements."""
    files = sorted(benchmark_dir.rglob("*.tsv"))
    if not files:
        raise SystemExit(
            f"no benchmark files under {benchmark_dir}: run the workflow first "
            "(every rule writes results/<dataset>/benchmarks/...tsv)"
        )
    rows = []
    for path in files:
        table = pd.read_csv(path, sep="\t")
        missing = [c for c in COLUMNS if c not in table.columns]
        if missing:
            raise SystemExit(f"{path} lacks {missing}: not a Snakemake benchmark file")
        rule = path.parent.name if path.parent != benchmark_dir else path.stem
        job = path.relative_to(benchmark_dir).with_suffix("").as_posix()
        # repeated benchmarks (benchmark: repeat(...)) give several rows: keep the worst
        rows.append({"rule": rule, "job": job, **table[COLUMNS].max().to_dict()})
    return pd.DataFrame(rows)


def workflow_benchmark_files(configfiles: list[Path]) -> set[Path]:
    """The benchmark files of every job of the workflow in the current directory under these
    config files, from Snakemake's own dry run of all of them."""
    dry_run = subprocess.run(
        [sys.executable, "-m", "snakemake", "--dry-run", "--forceall", "--cores", "1"]
        + ["--configfile", *map(str, configfiles)],
        capture_output=True,
        text=True,
    )
    if dry_run.returncode != 0:
        raise SystemExit(
            f"snakemake could not plan the workflow with {' '.join(map(str, configfiles))} "
            f"(run this from the project root):\n{dry_run.stderr[-2000:]}"
        )
    paths = re.findall(r"^\s*benchmark: (\S+)$", dry_run.stdout, flags=re.MULTILINE)
    return {Path(path).resolve() for path in paths}


def keep_workflow_jobs(jobs: pd.DataFrame, benchmark_dir: Path, declared: set[Path]):
    """The jobs whose benchmark file this workflow declares; names the others on stderr."""
    files = jobs["job"].map(lambda job: (benchmark_dir / f"{job}.tsv").resolve())
    current = files.isin(declared)
    if not current.any():
        raise SystemExit(
            f"none of the benchmark files under {benchmark_dir} belongs to this workflow and "
            "configuration: pass the config files the run used (--configfile)"
        )
    if not current.all():
        stale = ", ".join(jobs.loc[~current, "job"])
        print(f"left out {(~current).sum()} jobs not in this workflow: {stale}", file=sys.stderr)
    return jobs[current].reset_index(drop=True)


def per_rule(jobs: pd.DataFrame) -> pd.DataFrame:
    table = jobs.groupby("rule").agg(
        jobs=("job", "size"),
        peak_rss_mb=("max_rss", "max"),
        peak_uss_mb=("max_uss", "max"),
        slowest_job_s=("s", "max"),
        total_s=("s", "sum"),
    )
    return table.sort_values("peak_rss_mb", ascending=False).round(1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="results/<dataset> of a finished run")
    parser.add_argument("--limit-mb", type=float, default=2000, help="peak RSS target per job")
    parser.add_argument("--out", type=Path, help="also write the per-rule table as CSV")
    parser.add_argument(
        "--configfile",
        type=Path,
        nargs="+",
        help="the run's config files: count only the jobs of this workflow and configuration",
    )
    args = parser.parse_args(argv)
    benchmark_dir = args.results / "benchmarks"
    jobs = read_benchmarks(benchmark_dir)
    if args.configfile:
        jobs = keep_workflow_jobs(jobs, benchmark_dir, workflow_benchmark_files(args.configfile))
    table = per_rule(jobs)
    print(table.to_markdown())
    heaviest = jobs.loc[jobs["max_rss"].idxmax()]
    print(f"\nheaviest job: {heaviest['job']} ({heaviest['max_rss']:.0f} MB peak RSS)")
    if args.out:
        table.to_csv(args.out)
    over = table[table["peak_rss_mb"] > args.limit_mb]
    for rule, row in over.iterrows():
        print(
            f"rule {rule} peaked at {row['peak_rss_mb']:.0f} MB, "
            f"over the {args.limit_mb:.0f} MB target",
            file=sys.stderr,
        )
    return 1 if len(over) else 0


if __name__ == "__main__":
    sys.exit(main())
