"""Comparing models over folds: confidence intervals, the Friedman test with a Nemenyi post-hoc,
and paired tests of every model against the best one.

Each fold is one block: every model is evaluated on the same fold's test images, so the scores of
one fold are paired. Test sets are compared separately (the independent test set, its imbalanced
subsample and the fold holdout answer different questions).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats


def t_interval(values, confidence: float = 0.95) -> tuple[float, float]:
    """Two-sided t confidence interval of the mean over folds; (nan, nan) for a single fold."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float("nan"), float("nan")
    mean, sem = values.mean(), stats.sem(values)
    if sem == 0:
        return float(mean), float(mean)
    low, high = stats.t.interval(confidence, len(values) - 1, loc=mean, scale=sem)
    return float(low), float(high)


def block_table(per_fold: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Scores as folds (rows, the blocks) x models (columns); folds missing a model are dropped."""
    table = per_fold.pivot_table(index="fold", columns="model", values=metric, aggfunc="first")
    return table.dropna(axis=0, how="any")


def mean_ranks(table: pd.DataFrame) -> pd.Series:
    """Average rank of each model over the blocks; 1 = best (highest score), ties share ranks."""
    return table.rank(axis=1, ascending=False, method="average").mean().sort_values()


def friedman(table: pd.DataFrame) -> dict:
    """Friedman's test that all models score alike (needs 3+ models and 2+ blocks)."""
    n_blocks, n_models = table.shape
    result = {"test": "friedman", "n_models": n_models, "n_blocks": n_blocks}
    if n_models < 3 or n_blocks < 2:
        return {**result, "statistic": np.nan, "p_value": np.nan}
    if np.allclose(table.to_numpy(), table.to_numpy()[:, :1]):
        # every model scored the same in every block: no evidence of a difference
        return {**result, "statistic": 0.0, "p_value": 1.0}
    statistic, p_value = stats.friedmanchisquare(*(table[c].to_numpy() for c in table.columns))
    return {**result, "statistic": float(statistic), "p_value": float(p_value)}


def nemenyi(table: pd.DataFrame) -> pd.DataFrame:
    """Pairwise Nemenyi post-hoc p-values after Friedman (scikit-posthocs), models x models."""
    import scikit_posthocs as sp

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p_values = sp.posthoc_nemenyi_friedman(table.to_numpy())
    p_values.index = p_values.columns = list(table.columns)
    return p_values.fillna(1.0)


def nemenyi_critical_difference(n_models: int, n_blocks: int, alpha: float) -> float:
    """Demšar's (2006) critical difference of mean ranks: q_alpha * sqrt(k (k + 1) / (6 N)),
    q_alpha from the studentised range distribution with infinite degrees of freedom."""
    q = stats.studentized_range.ppf(1 - alpha, n_models, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(n_models * (n_models + 1) / (6.0 * n_blocks)))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN entries are left out)."""
    p = np.asarray(p_values, dtype=float)
    adjusted = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    order = valid[np.argsort(p[valid])]
    running = 0.0
    for i, index in enumerate(order):
        running = max(running, min(1.0, (len(order) - i) * p[index]))
        adjusted[index] = running
    return adjusted


def _paired_p_values(differences: np.ndarray) -> tuple[float, float]:
    """Paired t-test and Wilcoxon signed-rank p-values of differences (best - other) over folds."""
    if len(differences) < 2:
        return np.nan, np.nan
    if np.allclose(differences, 0):
        return 1.0, 1.0
    if np.allclose(differences, differences[0]):
        t_p = 0.0  # a constant non-zero difference: no variance, the sign never changes
    else:
        t_p = float(stats.ttest_rel(differences, np.zeros_like(differences)).pvalue)
    try:
        w_p = float(stats.wilcoxon(differences).pvalue)
    except ValueError:
        w_p = np.nan
    return t_p, w_p


def against_best(table: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """Every model against the best (highest mean): mean difference, its 95 % paired
    t-interval, paired t-test and Wilcoxon p-values, Holm-adjusted t p-values over the family,
    and whether the best is significantly better at ``alpha``."""
    means = table.mean().sort_values(ascending=False)
    best = means.index[0]
    rows = []
    for model in means.index[1:]:
        differences = (table[best] - table[model]).to_numpy()
        # a difference of two scores in [0, 1] lies in [-1, 1]
        low, high = np.clip(t_interval(differences), -1.0, 1.0)
        t_p, w_p = _paired_p_values(differences)
        rows.append(
            {
                "best": best,
                "model": model,
                "difference": float(differences.mean()),
                "ci95_low": float(low),
                "ci95_high": float(high),
                "p_ttest": t_p,
                "p_wilcoxon": w_p,
            }
        )
    frame = pd.DataFrame(
        rows,
        columns=[
            "best",
            "model",
            "difference",
            "ci95_low",
            "ci95_high",
            "p_ttest",
            "p_wilcoxon",
        ],
    )
    frame["p_holm"] = holm(frame["p_ttest"]) if len(frame) else []
    frame["significant"] = frame["p_holm"] < alpha
    return frame


def compare(per_fold: pd.DataFrame, metric: str, alpha: float) -> dict:
    """The whole comparison of one test set on one metric.

    ``per_fold`` has one row per (model, fold) with columns model, fold and ``metric``. Returns
    the mean ranks, Friedman's test, the Nemenyi p-values (None with fewer than 3 models), the
    critical difference of mean ranks and the table against the best model."""
    table = block_table(per_fold, metric)
    ranks = mean_ranks(table)
    omnibus = friedman(table)
    post_hoc = nemenyi(table) if omnibus["n_models"] >= 3 and omnibus["n_blocks"] >= 2 else None
    critical = (
        nemenyi_critical_difference(omnibus["n_models"], omnibus["n_blocks"], alpha)
        if post_hoc is not None
        else np.nan
    )
    return {
        "table": table,
        "ranks": ranks,
        "friedman": omnibus,
        "nemenyi": post_hoc,
        "critical_difference": critical,
        "against_best": against_best(table, alpha),
    }
