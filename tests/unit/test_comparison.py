"""Statistics of the summary: intervals, Friedman + Nemenyi, paired tests against the best."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from latentbalance.comparison import compare, holm, nemenyi_critical_difference, t_interval


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
    against = result["against_best"].set_index("model")
    assert (against["best"] == "winner").all()
    assert against.loc["weak", "difference"] == pytest.approx(
        np.mean(table["winner"] - table["weak"])
    )
    assert against["significant"].all()
    # Demšar's table: q_0.05 for 3 models is 2.343
    assert result["critical_difference"] == pytest.approx(2.343 * np.sqrt(3 * 4 / 60), abs=1e-3)


def test_indistinguishable_methods_are_not_flagged():
    rng = np.random.default_rng(1)
    base = rng.uniform(0.6, 0.7, size=6)
    table = {name: base + rng.normal(0, 0.02, 6) for name in ("a", "b", "c")}
    result = compare(scores(table), "acsa", alpha=0.05)
    assert result["friedman"]["p_value"] > 0.05


def test_two_methods_get_a_paired_test_but_no_friedman():
    table = {"none": [0.70, 0.72, 0.69, 0.71, 0.70], "smote-ae": [0.75, 0.78, 0.74, 0.77, 0.76]}
    result = compare(scores(table), "acsa", alpha=0.05)
    assert np.isnan(result["friedman"]["p_value"]) and result["nemenyi"] is None
    row = result["against_best"].iloc[0]
    assert (row["best"], row["model"]) == ("smote-ae", "none")
    differences = np.subtract(table["smote-ae"], table["none"])
    assert row["p_ttest"] == pytest.approx(stats.ttest_rel(table["smote-ae"], table["none"]).pvalue)
    assert row["ci95_low"] < differences.mean() < row["ci95_high"]
    assert row["significant"]


def test_holm_adjustment():
    # sorted p 0.01, 0.02, 0.04 -> 0.03, 0.04, 0.04 (monotone), in the original order
    assert holm([0.04, 0.01, 0.02]).tolist() == pytest.approx([0.04, 0.03, 0.04])


def test_critical_difference_for_two_models_is_z_based():
    # q_0.05 for 2 models is 1.960 (Demšar 2006, table 5)
    assert nemenyi_critical_difference(2, 10, 0.05) == pytest.approx(1.960 * np.sqrt(6 / 60), 1e-3)
