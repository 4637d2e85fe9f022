"""Statistics of the summary: intervals, Friedman + Nemenyi, and every model against the selected
one by the corrected resampled t and the stratified paired bootstrap (significant when both
agree), each against hand-computed cases."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from latentbalance.verdict.bootstrap import resampled_scores, scores_from_confusion
from latentbalance.verdict.comparison import (
    bootstrap_difference,
    compare,
    corrected_t,
    nemenyi_critical_difference,
    t_interval,
)
from latentbalance.verdict.metrics import METRICS, compute_metrics, confusion


def scores(table: dict[str, list[float]]) -> pd.DataFrame:
    """Per-fold rows (model, fold, acsa) from {model: [score of fold 0, fold 1, ...]}."""
    return pd.DataFrame(
        [
            {"model": model, "fold": fold, "acsa": value}
            for model, values in table.items()
            for fold, value in enumerate(values)
        ]
    )


def test_t_interval_matches_the_textbook_formula():
    values = [0.80, 0.82, 0.79, 0.85, 0.81]
    low, high = t_interval(values)
    mean, sd = np.mean(values), np.std(values, ddof=1)
    half = stats.t.ppf(0.975, 4) * sd / np.sqrt(5)  # t(0.975, 4 df) = 2.776
    assert (low, high) == pytest.approx((mean - half, mean + half))
    assert np.isnan(t_interval([0.8])[0])


def test_friedman_flags_a_method_that_always_wins_and_nemenyi_ranks_it_first():
    rng = np.random.default_rng(0)
    base = rng.uniform(0.6, 0.7, size=10)  # 10 folds of varying difficulty
    table = {
        "weak": base + rng.normal(0, 0.01, 10),
        "middle": base + 0.02 + rng.normal(0, 0.01, 10),
        "winner": base + 0.15,
    }
    result = compare(scores(table), "acsa", alpha=0.05)
    assert result["friedman"]["p_value"] < 0.001
    assert result["ranks"].index[0] == "winner"
    assert result["ranks"]["winner"] == pytest.approx(1.0)
    # the winner is significantly better than the weakest method after Nemenyi's correction
    assert result["nemenyi"].loc["winner", "weak"] < 0.05
    against = result["against"].set_index("model")
    assert (against["reference"] == "winner").all()
    assert against.loc["weak", "difference"] == pytest.approx(
        np.mean(table["winner"] - table["weak"])
    )
    # the winner's lead over "weak" varies: the corrected t says so; without a bootstrap (no
    # predictions) the two-test rule calls nothing significant
    assert against.loc["weak", "p_t"] < 0.05
    assert not against["significant"].any()
    # Demšar's table: q_0.05 for 3 models is 2.343
    assert result["critical_difference"] == pytest.approx(2.343 * np.sqrt(3 * 4 / 60), abs=1e-3)


def test_indistinguishable_methods_are_not_flagged():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.6, 0.7, size=6)
    table = {name: base + rng.normal(0, 0.02, 6) for name in ("a", "b", "c")}
    result = compare(scores(table), "acsa", alpha=0.05)
    assert result["friedman"]["p_value"] > 0.05


def test_two_methods_get_the_corrected_t_but_no_friedman():
    table = {"none": [0.70, 0.72, 0.69, 0.71, 0.70], "smote-ae": [0.75, 0.78, 0.74, 0.77, 0.76]}
    result = compare(scores(table), "acsa", alpha=0.05)
    assert np.isnan(result["friedman"]["p_value"]) and result["nemenyi"] is None
    row = result["against"].iloc[0]
    assert (row["reference"], row["model"]) == ("smote-ae", "none")
    assert row["p_t"] == pytest.approx(
        corrected_t(np.subtract(table["smote-ae"], table["none"]))["p_t"]
    )
    # no predictions, no bootstrap: the rule needs both tests, so nothing is significant
    assert row["resamples"] == 0 and not row["significant"]


def test_corrected_t_by_hand():
    # d = 1, 2, 3 over k = 3 folds: mean 2, s² = 1; variance factor 1/3 + 1/(3 - 1) = 5/6
    result = corrected_t([1.0, 2.0, 3.0])
    scale = np.sqrt(5 / 6)
    assert result["t"] == pytest.approx(2 / scale)  # 2.191 (the plain t would be 3.464)
    assert result["p_t"] == pytest.approx(2 * stats.t.sf(2 / scale, 2))  # 0.160
    assert result["p_t"] == pytest.approx(0.1599, abs=1e-4)
    half = 4.302653 * scale  # t(0.975, 2 df)
    assert (result["t_ci95_low"], result["t_ci95_high"]) == pytest.approx((2 - half, 2 + half))


def test_corrected_t_of_a_constant_difference_is_undefined_not_p_zero():
    # a float difference that is constant on paper (0.7 + 0.01 f - (0.6 + 0.01 f))
    folds = np.arange(5)
    result = corrected_t((0.7 + 0.01 * folds) - (0.6 + 0.01 * folds))
    assert result["difference"] == pytest.approx(0.1)
    assert np.isnan(result["t"]) and np.isnan(result["p_t"]) and np.isnan(result["t_ci95_low"])


def test_identical_methods_differ_by_zero_in_both_tests():
    result = corrected_t(np.zeros(5))
    assert result["difference"] == 0 and result["p_t"] == 1.0
    assert (result["t_ci95_low"], result["t_ci95_high"]) == (0.0, 0.0)
    same = np.linspace(0.6, 0.8, 200)
    boot = bootstrap_difference(same, same)
    assert (boot["bootstrap_ci95_low"], boot["bootstrap_ci95_high"]) == (0.0, 0.0)
    assert boot["p_bootstrap"] == 1.0 and not boot["p_bootstrap_bound"]


def test_bootstrap_p_of_a_difference_that_never_crosses_zero_is_a_bound_not_zero():
    boot = bootstrap_difference(np.full(1000, 0.8), np.full(1000, 0.7))
    assert boot["p_bootstrap"] == pytest.approx(1 / 1000) and boot["p_bootstrap_bound"]
    # 30 of 1000 resamples at or below 0: two-sided p = 2 x 0.03
    draws = np.r_[np.full(30, -0.01), np.full(970, 0.02)]
    assert bootstrap_difference(draws, np.zeros(1000))["p_bootstrap"] == pytest.approx(0.06)


def predictions(true, predicted):
    return pd.DataFrame({"index": np.arange(len(true)), "true": true, "predicted": predicted})


def test_metrics_from_confusion_matrices_are_compute_metrics():
    rng = np.random.default_rng(3)
    true = np.repeat(np.arange(4), [30, 12, 6, 3])
    guess = np.where(rng.random(len(true)) < 0.7, true, rng.integers(0, 4, len(true)))
    fast = scores_from_confusion(confusion(true, guess, 4))
    for name, value in compute_metrics(true, guess, 4).items():
        assert fast[name] == pytest.approx(value), name


def test_paired_bootstrap_of_a_constant_difference_and_of_identical_models():
    # one test set, two folds: "good" is right on every image, "bad" misses one image per class
    true = np.repeat(np.arange(3), 10)
    bad = true.copy()
    bad[[0, 10, 20]] = (true[[0, 10, 20]] + 1) % 3
    frames = {
        "good": {0: predictions(true, true), 1: predictions(true, true)},
        "bad": {0: predictions(true, bad), 1: predictions(true, bad)},
        "copy": {0: predictions(true, bad), 1: predictions(true, bad)},
    }
    resampled = resampled_scores(frames, resamples=200, seed=0)
    assert set(resampled) == {"good", "bad", "copy"} and set(resampled["good"]) == set(METRICS)
    assert (resampled["good"]["acsa"] == 1.0).all()
    # identical predictions: the same resamples give exactly the same scores
    same = bootstrap_difference(resampled["bad"]["acsa"], resampled["copy"]["acsa"])
    assert same["p_bootstrap"] == 1.0 and same["bootstrap_ci95_low"] == 0.0
    # every resample has good >= bad; most > 0 (a resample without the missed images ties)
    ahead = bootstrap_difference(resampled["good"]["acsa"], resampled["bad"]["acsa"])
    assert ahead["bootstrap_ci95_high"] > 0 and ahead["p_bootstrap"] >= 1 / 200
    # the per-fold scores averaged over folds: the observed ACSA of "bad" is 0.9
    assert resampled["bad"]["acsa"].mean() == pytest.approx(0.9, abs=0.03)


def test_two_tests_must_agree():
    table = {"a": [0.80, 0.83, 0.79, 0.82, 0.81], "b": [0.70, 0.72, 0.69, 0.73, 0.70]}
    both = {"a": np.full(100, 0.81), "b": np.full(100, 0.71)}  # never crosses 0
    row = compare(scores(table), "acsa", 0.05, resampled=both)["against"].iloc[0]
    assert row["p_t"] < 0.05 and row["p_bootstrap_bound"]
    assert row["significant"] and row["decision"] == "both tests agree"
    noisy = {"a": np.linspace(0.6, 1.0, 100), "b": np.full(100, 0.8)}  # half the draws below
    row = compare(scores(table), "acsa", 0.05, resampled=noisy)["against"].iloc[0]
    assert not row["significant"] and row["decision"] == "only the corrected t says so"


def test_critical_difference_for_two_models_is_z_based():
    # q_0.05 for 2 models is 1.960 (Demšar 2006, table 5)
    assert nemenyi_critical_difference(2, 10, 0.05) == pytest.approx(1.960 * np.sqrt(6 / 60), 1e-3)
