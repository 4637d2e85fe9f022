"""The leaderboard's text: mean ± sd over folds, no made-up spread for a single fold, and the
short headline that the report's landing page and the end of a run show."""

import pandas as pd

from latentbalance.metrics import METRICS
from latentbalance.summary import leaderboard_table, run_comparisons
from latentbalance.verdict import CHECK_COLUMNS, markdown_report, run_message, short_headline


def comparison(folds: int, models=(("none", 0.6, 0.0), ("smote-ae", 0.7, 0.01))):
    """A hand-built evaluation: each model scores base + step * fold on every metric of test set
    ``test``. Returns the leaderboard, the Friedman tests and the table against the best."""
    rows = [
        {"testset": "test", "method": method, "classifier": "resnet18", "fold": fold}
        | {"model": f"{method} / resnet18"}
        | {name: base + step * fold for name in METRICS}
        for fold in range(folds)
        for method, base, step in models
    ]
    per_fold = pd.DataFrame(rows)
    checks = pd.DataFrame([{"method": "smote-ae"} | {c: 0.5 for c in CHECK_COLUMNS}])
    board = leaderboard_table(per_fold, checks, "acsa", ["test"])
    significance, against, _ = run_comparisons(per_fold, 0.05, ["test"])
    return board, significance, against


def leaderboard_markdown(folds: int) -> str:
    board, significance, against = comparison(folds)
    return markdown_report("digits", board, significance, against, ["test"], "acsa", 0.05)


def test_one_fold_shows_means_without_a_spread():
    text = leaderboard_markdown(folds=1)
    table = [line for line in text.splitlines() if line.startswith("| smote-ae")]
    assert table and "±" not in table[0] and "0.7" in table[0]
    assert "0.7000 (one fold)" in text and "run more folds" in text


def test_several_folds_show_mean_sd_and_interval():
    text = leaderboard_markdown(folds=3)
    table = [line for line in text.splitlines() if line.startswith("| smote-ae")]
    assert "0.7100 ± 0.0100 [" in table[0]


def test_headline_is_the_winner_and_its_margin_over_the_runner_up():
    # smote-ae leads ros by 0.10, 0.09, 0.08 (a clear margin) and none by more
    models = (("none", 0.5, 0.0), ("ros", 0.6, 0.02), ("smote-ae", 0.7, 0.01))
    headline = short_headline(*comparison(3, models), ["test"], "acsa", 0.05)
    best, runner_up = headline.splitlines()
    assert best == (
        "Test set test. Best on acsa: smote-ae / resnet18 with 0.7100 ± 0.0100 [0.685, 0.735] "
        "(mean ± sd [95 % t-interval] over 3 folds)."
    )
    assert runner_up.startswith("vs ros / resnet18: +0.0900 [+0.0652, +0.1148], p = ")
    assert runner_up.endswith(": significant at 0.05 (Holm-adjusted paired t-test).")


def test_headline_says_when_the_margin_is_not_significant():
    # the lead changes sign between folds: +0.03, +0.01, -0.01
    models = (("none", 0.70, 0.0), ("smote-ae", 0.73, -0.02))
    best, runner_up = short_headline(*comparison(3, models), ["test"], "acsa", 0.05).splitlines()
    assert "Best on acsa: smote-ae / resnet18 with 0.7100 ± 0.0200" in best
    assert runner_up.startswith("vs none / resnet18: +0.0100 [")
    assert runner_up.endswith(": not significant at 0.05.")


def test_headline_of_one_fold_asks_for_more_folds():
    headline = short_headline(*comparison(1), ["test"], "acsa", 0.05)
    assert headline.splitlines() == [
        "Test set test. Best on acsa: smote-ae / resnet18 with 0.7000 (one fold).",
        "One fold only: no interval or test is possible; run more folds.",
    ]


def test_run_message_prints_built_summaries_and_the_report_command(tmp_path):
    built = tmp_path / "results/mnist/summary/headline.txt"
    built.parent.mkdir(parents=True)
    built.write_text("Test set test. Best on acsa: smote-ae / resnet18 with 0.9.\nvs none: +0.1.\n")
    missing = tmp_path / "results/cifar/summary/headline.txt"
    message = run_message({"mnist": built, "cifar": missing}, ["my config.yaml"])
    assert message.splitlines() == [
        "mnist: Test set test. Best on acsa: smote-ae / resnet18 with 0.9.",
        "    vs none: +0.1.",
        f"    leaderboard: {built.with_name('leaderboard.md')} (and .html)",
        "The report: snakemake --report report.html --configfile 'my config.yaml'",
    ]
    # a run of only some targets built no summary: nothing to say
    assert run_message({"cifar": missing}) == ""
