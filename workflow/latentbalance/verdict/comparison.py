"""Comparing models over folds: confidence intervals, the Friedman test with a Nemenyi post-hoc,
and every model against the selected one by two tests that must agree: Nadeau & Bengio's
corrected resampled t over folds and a stratified paired bootstrap over the test images.

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


def corrected_t(differences, confidence: float = 0.95) -> dict:
    """Nadeau & Bengio's corrected resampled t over k folds of one pool.

    The folds' training sets overlap ((k-2)/(k-1) of their images) and share one test set, so
    the differences are not independent and the plain paired t underestimates their variance.
    The correction scales the variance of the mean by 1/k + n_test/n_train instead of 1/k, with
    n_test/n_train = 1/(k-1) (a fold's held-out share over its training share); df = k - 1.

    A difference that is the same on every fold has no variance: the statistic is undefined
    (t and p are NaN; the interval is NaN too), not infinitely significant. The summary then
    leaves the decision to the bootstrap. Identical scores (difference 0 on every fold) give
    t = 0, p = 1 and the interval [0, 0]."""
    d = np.asarray(differences, dtype=float)
    k = len(d)
    result = {
        "folds": k,
        "difference": float(d.mean()) if k else np.nan,
        "t_ci95_low": np.nan,
        "t_ci95_high": np.nan,
        "t": np.nan,
        "p_t": np.nan,
    }
    if k < 2:
        return result
    mean, sd = float(d.mean()), float(d.std(ddof=1))
    # differences of floats that are equal on paper differ in the last bits
    if sd <= 1e-12 * max(1.0, abs(mean)):
        if abs(mean) <= 1e-12:
            zero = {"difference": 0.0, "t_ci95_low": 0.0, "t_ci95_high": 0.0, "t": 0.0}
            return result | zero | {"p_t": 1.0}
        return result
    scale = np.sqrt((1 / k + 1 / (k - 1)) * sd**2)
    t = mean / scale
    half = stats.t.ppf(0.5 + confidence / 2, k - 1) * scale
    p = float(2 * stats.t.sf(abs(t), k - 1))
    return {**result, "t_ci95_low": mean - half, "t_ci95_high": mean + half, "t": t, "p_t": p}


def bootstrap_difference(reference: np.ndarray, other: np.ndarray) -> dict:
    """The paired bootstrap's view of reference - other from their resampled scores (one value
    per resample, the same resamples for both): 95 % percentile interval and the two-sided p,
    twice the smaller share of resamples on either side of 0 (at most 1). A p of 0 only says
    that no resample crossed 0: it is reported as the bound 1/B (``p_bootstrap_bound``)."""
    draws = np.asarray(reference, dtype=float) - np.asarray(other, dtype=float)
    resamples = len(draws)
    low, high = np.percentile(draws, [2.5, 97.5])
    p = min(1.0, 2 * min(np.mean(draws <= 0), np.mean(draws >= 0)))
    return {
        "bootstrap_ci95_low": float(low),
        "bootstrap_ci95_high": float(high),
        "p_bootstrap": max(p, 1 / resamples),
        "p_bootstrap_bound": bool(p < 1 / resamples),
        "resamples": resamples,
    }


def bootstrap_says(row: dict, alpha: float) -> bool:
    """Whether the bootstrap's p is below ``alpha``; a bound 1/B counts when it is at most alpha
    (no resample crossed 0)."""
    if np.isnan(row.get("p_bootstrap", np.nan)):
        return False
    if row["p_bootstrap_bound"]:
        return bool(row["p_bootstrap"] <= alpha)
    return bool(row["p_bootstrap"] < alpha)


def decide(row: dict, alpha: float) -> tuple[bool, str]:
    """Significant only when the corrected t and the bootstrap both say so. Where the t is
    undefined (the same difference on every fold) the bootstrap decides alone; without a
    bootstrap (no predictions) nothing is called significant."""
    t_defined = not np.isnan(row["p_t"])
    t_says = t_defined and row["p_t"] < alpha
    if row["folds"] < 2:
        return False, "one fold: no test is possible"
    if np.isnan(row.get("p_bootstrap", np.nan)):
        return False, "no bootstrap (no predictions), so not called significant"
    boot_says = bootstrap_says(row, alpha)
    if not t_defined:
        return boot_says, "t undefined, the same difference on every fold: the bootstrap decides"
    if t_says and boot_says:
        return True, "both tests agree"
    if not t_says and not boot_says:
        return False, "neither test says so"
    return False, f"only the {'corrected t' if t_says else 'bootstrap'} says so"


def resolution(row) -> tuple[float, str | None]:
    """The smallest difference these folds and test images could tell apart from none, and the
    test that sets it: the half-width of the wider of the two 95 % intervals of the difference
    (the corrected t's over folds, the bootstrap's over test images). A difference is called
    significant only when both intervals leave out 0, so one smaller than the wider half-width
    cannot be. (nan, None) where neither interval exists (one fold and no predictions)."""
    halves = {
        "corrected t": (row["t_ci95_high"] - row["t_ci95_low"]) / 2,
        "bootstrap": (
            row.get("bootstrap_ci95_high", np.nan) - row.get("bootstrap_ci95_low", np.nan)
        )
        / 2,
    }
    halves = {test: float(half) for test, half in halves.items() if not np.isnan(half)}
    if not halves:
        return float("nan"), None
    widest = max(halves, key=halves.get)
    return halves[widest], widest


AGAINST_COLUMNS = [
    "reference",
    "model",
    "folds",
    "difference",
    "t_ci95_low",
    "t_ci95_high",
    "t",
    "p_t",
    "bootstrap_ci95_low",
    "bootstrap_ci95_high",
    "p_bootstrap",
    "p_bootstrap_bound",
    "resamples",
    "significant",
    "decision",
]


def against(
    table: pd.DataFrame,
    alpha: float,
    reference: str | None = None,
    resampled: dict | None = None,
) -> pd.DataFrame:
    """Every model against ``reference`` (default: the highest mean): the mean difference over
    folds with the corrected t, the paired bootstrap (``resampled``: model -> resampled scores
    of this metric) and the decision of both. A ``reference`` without scores here is an error:
    putting the best one in its place would compare against a model chosen on these scores."""
    means = table.mean().sort_values(ascending=False)
    if reference is None:
        reference = means.index[0]
    elif reference not in table.columns:
        raise ValueError(
            f"the reference model {reference!r} has no scores on this test set; "
            f"the models here: {', '.join(map(repr, table.columns))}"
        )
    rows = []
    for model in [m for m in means.index if m != reference]:
        row = {"reference": reference, "model": model}
        row |= corrected_t((table[reference] - table[model]).to_numpy())
        # a difference of two scores in [0, 1] lies in [-1, 1]; with few folds the interval
        # would reach beyond
        row["t_ci95_low"], row["t_ci95_high"] = np.clip(
            [row["t_ci95_low"], row["t_ci95_high"]], -1.0, 1.0
        )
        if resampled and reference in resampled and model in resampled:
            row |= bootstrap_difference(resampled[reference], resampled[model])
        else:
            row |= dict.fromkeys(AGAINST_COLUMNS[8:12], np.nan) | {"resamples": 0}
        row["significant"], row["decision"] = decide(row, alpha)
        rows.append(row)
    return pd.DataFrame(rows, columns=AGAINST_COLUMNS)


def compare(
    per_fold: pd.DataFrame,
    metric: str,
    alpha: float,
    reference: str | None = None,
    resampled: dict | None = None,
) -> dict:
    """The whole comparison of one test set on one metric.

    ``per_fold`` has one row per (model, fold) with columns model, fold and ``metric``. Returns
    the mean ranks, Friedman's test, the Nemenyi p-values (None with fewer than 3 models), the
    critical difference of mean ranks and the table of every model against ``reference`` (the
    selected model; default the best on this test set), with the bootstrap of ``resampled``."""
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
        "against": against(table, alpha, reference, resampled),
    }
