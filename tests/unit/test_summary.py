"""The leaderboard's text: mean ± sd over folds, and no made-up spread for a single fold."""

import pandas as pd

from latentbalance.metrics import METRICS
from latentbalance.summary import (
    CHECK_COLUMNS,
    leaderboard_table,
    markdown_report,
    run_comparisons,
)


def leaderboard_markdown(folds: int) -> str:
    rows = [
        {"testset": "test", "method": method, "classifier": "resnet18", "fold": fold}
        | {"model": f"{method} / resnet18"}
        | {name: base + 0.01 * fold for name in METRICS}
        for fold in range(folds)
        for method, base in (("none", 0.6), ("smote-ae", 0.7))
    ]
    per_fold = pd.DataFrame(rows)
    checks = pd.DataFrame([{"method": "smote-ae"} | {c: 0.5 for c in CHECK_COLUMNS}])
    board = leaderboard_table(per_fold, checks, "acsa", ["test"])
    significance, against, _ = run_comparisons(per_fold, 0.05, ["test"])
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
