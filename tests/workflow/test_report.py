"""The comparison a user reads (summary page, report.html) on the session's tiny workflow run.
(The saved-model command line on the same run: test_command_line.py.)"""

import html
import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from helpers import snakemake

pytestmark = pytest.mark.workflow


def test_imbalanced_test_set_is_a_subsample_with_the_training_profile(tiny_run):
    workdir, _, _ = tiny_run
    split = np.load(workdir / "results/digits/split/split.npz")
    labels = np.load(workdir / "results/digits/data/images.labels.npz")["labels"]
    assert np.isin(split["test_imbalanced"], split["test"]).all()
    train = np.bincount(labels[split["train"]], minlength=10)
    test = np.bincount(labels[split["test_imbalanced"]], minlength=10)
    # the largest training class keeps (about) its whole test share; the profile is the same
    assert np.argmax(test) == np.argmax(train)
    assert np.allclose(test / test.max(), train / train.max(), atol=0.1)
    counts = pd.read_csv(workdir / "results/digits/split/class_counts.csv")
    assert counts["test_imbalanced"].tolist() == test.tolist()


def test_summary_says_who_wins_by_how_much_and_whether_it_is_significant(tiny_run):
    workdir, _, _ = tiny_run
    summary = workdir / "results/digits/summary"
    board = pd.read_csv(summary / "leaderboard.csv")
    assert set(board["testset"]) == {"test", "test_imbalanced", "holdout"}
    for metric in ("acsa", "gmean_macro"):
        assert (board[f"{metric}_ci95_low"] <= board[f"{metric}_mean"] + 1e-12).all()
        assert (board[f"{metric}_mean"] <= board[f"{metric}_ci95_high"] + 1e-12).all()
    # the synthetic-sample check: decoded SMOTE latents are no copies of real images
    generated = board[board["method"] == "smote-ae"]
    assert (generated["copy_ratio"] > 0.05).all() and (generated["exact_copies"] < 0.5).all()
    assert board.loc[board["method"] == "none", "copy_ratio"].isna().all()
    against = pd.read_csv(summary / "comparison.csv")
    assert len(against) == 3 * 5  # (test sets) x (metrics): one rival each
    # the corrected t (undefined for a difference equal on both folds) and the bootstrap, whose
    # p is never 0
    assert against["p_t"].dropna().between(0, 1).all()
    assert against["p_bootstrap"].between(0, 1, inclusive="right").all()
    assert (against["resamples"] == 1000).all()
    page = (summary / "leaderboard.html").read_text()
    # the headline: the winner with its interval, and its margin over the other model
    assert "Best on acsa" in page and "95 % t-interval" in page
    assert "vs none / resnet18" in page or "vs smote-ae / resnet18" in page
    assert "significant at 0.05" in page
    assert "Test set: test_imbalanced" in page and "Synthetic-sample check" in page
    assert page.count("data:image/png;base64,") == 2  # bars and critical-difference diagram
    assert (summary / "critical_difference.png").stat().st_size > 5_000
    assert (summary / "training_curves.png").stat().st_size > 10_000


def test_report_has_every_section(tiny_run, tmp_path):
    workdir, config, _ = tiny_run
    # written outside the run's folder: the tiny run is shared and must stay unchanged
    snakemake(workdir, "--configfile", str(config), "--report", str(tmp_path / "report.html"))
    report = (tmp_path / "report.html").read_text()
    for section in (
        "1. summary",
        "2. data split",
        "3. autoencoders",
        "4. balanced sets",
        "5. classifiers",
        "6. evaluation: confusion matrices",
    ):
        assert section in report, section
    for result in (
        "leaderboard.html",
        "leaderboard.png",
        "critical_difference.png",
        "training_curves.png",
        "synthetic_check.csv",
        "class_counts.png",
        "confusion.png",
        "history.png",
        "smote-ae.png",
    ):
        assert result in report, result
    assert "config.yaml" in report and "configuration (YAML)" in report


def test_report_opens_on_a_short_description_with_the_headline(tiny_run, tmp_path):
    workdir, config, _ = tiny_run
    snakemake(workdir, "--configfile", str(config), "--report", str(tmp_path / "report.html"))
    report = (tmp_path / "report.html").read_text()
    description = json.loads(re.search(r"var workflow_desc = (\".*\");", report).group(1))
    assert "Where to look first" in description and "This run" in description
    for line in (workdir / "results/digits/summary/headline.txt").read_text().splitlines():
        assert html.escape(line, quote=False) in description
    # the configuration is its own result: the description stays shorter than a screen
    assert "max_per_class" not in description
    assert len(re.sub(r"<[^>]+>", "", description)) < 1500


def test_summary_keeps_the_configuration_it_was_run_with(tiny_run):
    workdir, config, _ = tiny_run
    saved = yaml.safe_load((workdir / "results/digits/summary/config.yaml").read_text())
    given = yaml.safe_load(config.read_text())
    assert saved["datasets"]["digits"]["imbalance"]["max_per_class"] == 60
    assert saved["folds"] == given["folds"] and saved["methods"] == given["methods"]
    assert saved["summary"]["metric"] == "acsa"  # a default, filled in
    # as a config file it plans the same run: nothing to redo
    rerun = snakemake(workdir, "-n", "--configfile", "results/digits/summary/config.yaml")
    assert "Nothing to be done" in rerun.stdout + rerun.stderr


def test_run_ends_with_each_datasets_headline(tiny_run):
    workdir, config, output = tiny_run
    best, runner_up = (workdir / "results/digits/summary/headline.txt").read_text().splitlines()
    # chosen on the folds' holdouts, its test scores reported once
    assert best.startswith("Best on acsa: ") and "selected on the folds' holdouts" in best
    assert runner_up.startswith("vs none / resnet18 on test: ") or runner_up.startswith(
        "vs smote-ae / resnet18 on test: "
    )
    assert f"digits: {best}\n    {runner_up}\n" in output
    assert "leaderboard: results/digits/summary/leaderboard.md" in output
    assert f"snakemake --report report.html --configfile {config}" in output
