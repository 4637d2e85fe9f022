"""Judging one dataset's evaluations: which model is the reference of every comparison."""

import numpy as np
import pandas as pd
import pytest

from latentbalance.verdict.comparison import compare
from latentbalance.verdict.judging import SummarySettings, run_comparisons
from latentbalance.verdict.metrics import compute_metrics

TRUE = np.repeat(np.arange(3), 10)


def fold_rows(model: str, testset: str, wrong_per_class: int, folds: int = 3) -> list[dict]:
    """One row per fold of ``model`` on ``testset``: every metric of predictions that miss
    ``wrong_per_class`` images of each class (one more on odd folds)."""
    rows = []
    for fold in range(folds):
        predicted = TRUE.copy()
        n = wrong_per_class + fold % 2
        wrong = [i for c in range(3) for i in np.flatnonzero(TRUE == c)[:n]]
        predicted[wrong] = (TRUE[wrong] + 1) % 3
        scores = compute_metrics(TRUE, predicted, 3)
        rows.append({"model": model, "testset": testset, "fold": fold} | scores)
    return rows


def test_a_selected_model_without_scores_on_a_test_set_is_an_error_not_a_silent_swap():
    """smote-ae is best on the holdouts but was never scored on test: the best on test must not
    take its place while the text says "selected on the holdouts"."""
    rows = fold_rows("smote-ae / resnet18", "holdout", 0) + fold_rows(
        "none / resnet18", "holdout", 2
    )
    rows += fold_rows("none / resnet18", "test", 1) + fold_rows("ros / resnet18", "test", 2)
    per_fold = pd.DataFrame(rows)
    settings = SummarySettings("toy", testsets=["test", "holdout"], bootstrap_resamples=20)
    with pytest.raises(ValueError) as error:
        run_comparisons(per_fold, settings, predictions={})
    message = str(error.value)
    assert "smote-ae / resnet18, the model selected on the folds' holdouts" in message
    assert "no scores on test set 'test'" in message
    assert "keep 'test' in 'testsets' and rerun the workflow" in message
    # scored everywhere, it is the reference on every test set
    per_fold = pd.DataFrame(rows + fold_rows("smote-ae / resnet18", "test", 3))
    _, versus, _ = run_comparisons(per_fold, settings, predictions={})
    assert set(versus["reference"]) == {"smote-ae / resnet18"}
    assert set(versus.loc[versus["testset"] == "test", "model"]) == {
        "none / resnet18",
        "ros / resnet18",
    }


def test_a_named_reference_missing_from_the_table_is_refused():
    per_fold = pd.DataFrame(fold_rows("none", "test", 1) + fold_rows("ros", "test", 2))
    with pytest.raises(ValueError, match="the reference model 'smote-ae' has no scores"):
        compare(per_fold, "acsa", 0.05, reference="smote-ae")
    # without a named reference the best on these scores is it
    assert set(compare(per_fold, "acsa", 0.05)["against"]["reference"]) == {"none"}
