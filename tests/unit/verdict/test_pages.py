"""The summary's text: the model selected on the holdouts named first with its test scores, each
comparison with what the corrected t and the bootstrap said, no p-value printed as 0, no made-up
spread for a single fold, and the short headline of the report's landing page and a run's end."""

import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from latentbalance.verdict.judging import (
    CHECK_COLUMNS,
    SummarySettings,
    Verdict,
    leaderboard_table,
    run_comparisons,
)
from latentbalance.verdict.metrics import compute_metrics
from latentbalance.verdict.pages import markdown_report, run_message, short_headline

TRUE = np.repeat(np.arange(5), 20)  # 100 test images, 20 per class


def guesses(errors: int) -> np.ndarray:
    """Predictions that miss the first ``errors`` images of every class."""
    predicted = TRUE.copy()
    wrong = np.concatenate([np.flatnonzero(TRUE == c)[:errors] for c in range(5)])
    predicted[wrong] = (TRUE[wrong] + 1) % 5
    return predicted


def comparison(errors: dict, testsets=("test",), resamples=200):
    """A hand-built evaluation: errors[(testset, method)] lists each fold's errors per class.
    Returns the verdict and the settings it was judged by."""
    rows, predictions = [], {}
    for (testset, method), per_fold in errors.items():
        model = f"{method} / resnet18"
        for fold, n in enumerate(per_fold):
            predicted = guesses(n)
            frame = pd.DataFrame({"index": np.arange(100), "true": TRUE, "predicted": predicted})
            predictions.setdefault(testset, {}).setdefault(model, {})[fold] = frame
            rows.append(
                {"testset": testset, "method": method, "classifier": "resnet18", "fold": fold}
                | {"model": model}
                | compute_metrics(TRUE, predicted, 5)
            )
    per_fold = pd.DataFrame(rows)
    checks = pd.DataFrame([{"method": "smote-ae", "fold": 0} | {c: 0.5 for c in CHECK_COLUMNS}])
    board = leaderboard_table(per_fold, checks, "acsa", list(testsets))
    settings = SummarySettings("digits", testsets=list(testsets), bootstrap_resamples=resamples)
    significance, against, results = run_comparisons(per_fold, settings, predictions)
    return Verdict({}, per_fold, checks, board, significance, against, results), settings


def text(errors, testsets=("test",)):
    return markdown_report(*comparison(errors, testsets))


def test_one_fold_shows_means_without_a_spread():
    markdown = text({("test", "none"): [4], ("test", "smote-ae"): [2]})
    table = [line for line in markdown.splitlines() if line.startswith("| smote-ae")]
    assert table and "±" not in table[0] and "0.9" in table[0]
    assert "0.9000 on test set test (one fold)" in markdown and "run more folds" in markdown


def test_several_folds_show_mean_sd_and_interval():
    markdown = text({("test", "none"): [4, 4, 4], ("test", "smote-ae"): [1, 2, 3]})
    table = [line for line in markdown.splitlines() if line.startswith("| smote-ae")]
    assert "0.9000 ± 0.0500 [" in table[0]


def test_model_selected_on_the_holdouts_leads_even_where_another_wins_on_test():
    errors = {
        ("holdout", "none"): [3, 4, 3],
        ("holdout", "smote-ae"): [1, 2, 1],  # selected here ...
        ("test", "none"): [1, 1, 2],  # ... although none is ahead on test
        ("test", "smote-ae"): [2, 3, 2],
    }
    testsets = ("test", "holdout")
    best, versus = short_headline(*comparison(errors, testsets)).splitlines()
    assert best.startswith(
        "Best on acsa: smote-ae / resnet18, selected on the folds' holdouts (0.9333 ± "
    )
    assert "; on test 0.8833 ± " in best and "over 3 folds" in best
    assert versus.startswith("vs none / resnet18 on test: -0.0500; corrected t [")
    assert "bootstrap over test images [" in versus
    markdown = text(errors, testsets)
    assert "## test set: test (information, not for selection)" in markdown
    assert "## test set: holdout (selects the model)" in markdown
    assert "Picked on test set" not in markdown


def test_without_holdout_the_summary_says_the_test_set_picked_the_model():
    markdown = text({("test", "none"): [4, 3, 4], ("test", "smote-ae"): [1, 2, 1]})
    assert "Best on acsa: smote-ae / resnet18 with 0.9333 ± " in markdown
    assert "Picked on test set test itself (holdout is not among testsets)" in markdown
    assert "biased upwards" in markdown


def test_clear_margin_is_significant_by_both_tests():
    judged = comparison({("test", "none"): [6, 5, 6, 7, 6], ("test", "smote-ae"): [1, 2, 1, 2, 1]})
    versus = short_headline(*judged).splitlines()[1]
    assert versus.startswith("vs none / resnet18 on test: +0.2300; corrected t [")
    assert versus.endswith(": significant at 0.05 (both tests agree).")


def test_a_constant_difference_never_prints_p_zero():
    # smote-ae misses 1 image per class on every fold, none 3: the same +0.10 on every fold
    errors = {("test", "none"): [3, 3, 3, 3, 3], ("test", "smote-ae"): [1, 1, 1, 1, 1]}
    markdown = text(errors)
    assert "corrected t undefined (the same difference on every fold)" in markdown
    assert "p < 0.005" in markdown  # the bootstrap's bound: no resample of 200 crossed 0
    assert "the bootstrap decides" in markdown
    assert not re.search(r"p = 0(\.0*)?(?![.\d])", markdown)
    against = comparison(errors)[0].against
    assert (against["p_bootstrap"] > 0).all() and not (against["p_t"] == 0).any()


def test_identical_models_differ_by_zero_and_are_not_significant():
    markdown = text({("test", "none"): [2, 3, 2], ("test", "ros"): [2, 3, 2]})
    line = next(x for x in markdown.splitlines() if x.startswith("- vs "))
    assert ": +0.0000; corrected t [+0.0000, +0.0000], p = 1; " in line
    assert "bootstrap over test images [+0.0000, +0.0000], p = 1: not significant" in line


def test_run_message_prints_built_summaries_and_the_report_command(tmp_path):
    built = tmp_path / "results/mnist/summary/headline.txt"
    built.parent.mkdir(parents=True)
    built.write_text("Best on acsa: smote-ae / resnet18 with 0.9.\nvs none: +0.1.\n")
    missing = tmp_path / "results/cifar/summary/headline.txt"
    message = run_message({"mnist": built, "cifar": missing}, ["my config.yaml"])
    assert message.splitlines() == [
        "mnist: Best on acsa: smote-ae / resnet18 with 0.9.",
        "    vs none: +0.1.",
        f"    leaderboard: {built.with_name('leaderboard.md')} (and .html)",
        "The report: snakemake --report report.html --configfile 'my config.yaml'",
    ]
    # a run of only some targets built no summary: nothing to say
    assert run_message({"cifar": missing}) == ""


def test_page_labels_the_test_sets_that_do_not_select():
    from latentbalance.verdict.pages import html_report

    errors = {("holdout", "none"): [3, 4], ("holdout", "ros"): [1, 2]}
    errors |= {("test", "none"): [1, 1], ("test", "ros"): [2, 3]}
    page = html_report(*comparison(errors, ("test", "holdout")), figures={})
    assert page.index("<h2>Verdict</h2>") < page.index("<h2>Test set: test</h2>")
    assert "<h2>Test set: test</h2><p><em>information, not for selection</em></p>" in page
    assert "<h2>Test set: holdout</h2><p><em>selects the model</em></p>" in page


def test_not_significant_says_the_smallest_difference_the_folds_could_tell_apart():
    """3 folds, scores that wander from fold to fold: the corrected t's interval is the wider,
    and the headline says how large a difference these folds could have told apart."""
    errors = {("test", "none"): [2, 4, 3], ("test", "smote-ae"): [3, 2, 2]}
    judged = comparison(errors)
    versus = short_headline(*judged).splitlines()[1]
    # ACSA = 1 - errors / 20: smote-ae - none per fold
    d = np.array([-1, 2, 1]) / 20
    half = stats.t.ppf(0.975, 2) * np.sqrt((1 / 3 + 1 / 2) * d.var(ddof=1))
    row = judged[0].against.query("metric == 'acsa'").iloc[0]
    bootstrap_half = (row["bootstrap_ci95_high"] - row["bootstrap_ci95_low"]) / 2
    assert bootstrap_half < half
    assert ": not significant at 0.05 (" in versus
    assert versus.endswith(
        f"; no difference under {100 * half:.1f} ACSA points could be told apart with these 3 "
        "folds and 100 test images (the corrected t's half-width, the wider: more folds would "
        "narrow it)."
    )
    assert row["resolution"] == pytest.approx(half) and row["resolution_by"] == "corrected t"
    assert row["test_images"] == 100


def swapped(errors_per_class: int, start: int) -> np.ndarray:
    """Predictions that miss ``errors_per_class`` images of every class from position
    ``start`` on."""
    predicted = TRUE.copy()
    wrong = np.concatenate(
        [np.flatnonzero(TRUE == c)[start : start + errors_per_class] for c in range(5)]
    )
    predicted[wrong] = (TRUE[wrong] + 1) % 5
    return predicted


def test_where_the_test_images_limit_more_images_would_help():
    """Five folds that agree closely, two models that miss different images: the folds pin the
    difference down, the 100 test images do not, so the bootstrap sets the resolution."""
    rows, predictions = [], {}
    for method, misses in (("none", [4, 4, 4, 4, 5]), ("ros", [4, 4, 4, 4, 4])):
        model = f"{method} / resnet18"
        for fold, n in enumerate(misses):
            predicted = swapped(n, 0 if method == "none" else 10)
            frame = pd.DataFrame({"index": np.arange(100), "true": TRUE, "predicted": predicted})
            predictions.setdefault("test", {}).setdefault(model, {})[fold] = frame
            rows.append(
                {"testset": "test", "method": method, "classifier": "resnet18", "fold": fold}
                | {"model": model}
                | compute_metrics(TRUE, predicted, 5)
            )
    per_fold = pd.DataFrame(rows)
    checks = pd.DataFrame(columns=["method", "fold", *CHECK_COLUMNS])
    board = leaderboard_table(per_fold, checks, "acsa", ["test"])
    settings = SummarySettings("digits", testsets=["test"], bootstrap_resamples=200)
    significance, against, results = run_comparisons(per_fold, settings, predictions)
    verdict = Verdict({}, per_fold, checks, board, significance, against, results)
    versus = short_headline(verdict, settings).splitlines()[1]
    row = against.query("metric == 'acsa'").iloc[0]
    bootstrap_half = (row["bootstrap_ci95_high"] - row["bootstrap_ci95_low"]) / 2
    assert bootstrap_half > (row["t_ci95_high"] - row["t_ci95_low"]) / 2
    assert ": not significant at 0.05 (" in versus
    assert versus.endswith(
        f"; no difference under {100 * bootstrap_half:.1f} ACSA points could be told apart "
        "with these 5 folds and 100 test images (the bootstrap's half-width, the wider: more "
        "test images would narrow it)."
    )
