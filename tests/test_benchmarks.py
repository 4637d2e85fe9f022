"""The memory summary of a run, read from the files of every rule's ``benchmark:`` directive."""

import subprocess
import sys

import pandas as pd

from conftest import REPO

RULES = {
    "download",
    "split",
    "folds",
    "train_autoencoder",
    "oversample",
    "train_classifier",
    "evaluate",
    "summarize",
}


def memory_summary(results, *args):
    return subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "memory.py"), str(results), *args],
        capture_output=True,
        text=True,
    )


def test_every_rule_records_its_peak_memory(tiny_run, tmp_path):
    workdir, _, _ = tiny_run
    summary = memory_summary(workdir / "results" / "digits", "--out", str(tmp_path / "memory.csv"))
    assert summary.returncode == 0, summary.stderr
    table = pd.read_csv(tmp_path / "memory.csv", index_col="rule")
    assert set(table.index) == RULES
    # 2 folds x 2 methods: one evaluation job per classifier covers its 3 test sets
    assert table.loc["evaluate", "jobs"] == 4
    assert table.loc["train_classifier", "jobs"] == 4
    # a torch job holds at least the interpreter and torch: tens of MB, never zero
    assert (table.loc[["train_classifier", "train_autoencoder"], "peak_rss_mb"] > 50).all()
    assert "train_classifier" in summary.stdout and "heaviest job:" in summary.stdout


def test_rules_over_the_memory_limit_are_named_and_fail(tiny_run):
    workdir, _, _ = tiny_run
    summary = memory_summary(workdir / "results" / "digits", "--limit-mb", "1")
    assert summary.returncode == 1
    assert "rule train_classifier peaked at" in summary.stderr
    assert "over the 1 MB target" in summary.stderr


def test_a_run_without_benchmark_files_is_an_error(tmp_path):
    summary = memory_summary(tmp_path)
    assert summary.returncode != 0
    assert "no benchmark files under" in summary.stderr
