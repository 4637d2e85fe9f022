"""Peak memory and time of every rule of a run, from the files of Snakemake's ``benchmark:``
directives (``results/<dataset>/benchmarks/**/*.tsv``, one per job). Prints one markdown row per
rule: jobs, the largest peak RSS and USS of any of its jobs, and its slowest and total wall time;
rules over the limit are named on stderr and make the exit status 1.

    python benchmarks/memory.py results/fmnist_lt            # limit 2 GB
    python benchmarks/memory.py results/fmnist_lt --limit-mb 4000 --out memory.csv
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args(argv)
    jobs = read_benchmarks(args.results / "benchmarks")
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
