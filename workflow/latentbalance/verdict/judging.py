"""One dataset's evaluations judged: every fold's scores read and the models labelled, the
leaderboard (mean ± sd and 95 % t-interval over folds), the model selected on the folds'
holdouts, and the tests between it and every other model."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..io import read_json
from ..rebalance.methods import method_label
from . import bootstrap, comparison
from .metrics import METRICS

# the synthetic-sample check's overall ratios (synthetic_check.py), as the summary reports them
CHECK_COLUMNS = ["copy_ratio", "diversity_ratio", "exact_copies"]

KEYS = ["testset", "method", "classifier"]


@dataclass(frozen=True)
class SummarySettings:
    """What one dataset's summary is judged and labelled by: the ``summary`` config block (the
    ranking ``metric``, ``alpha``, ``bootstrap_resamples``), the test sets in the config's order,
    the ``seed`` of the bootstrap, and the config blocks that change what a method means
    (``sampler``, ``autoencoder``, ``losses``, ``heads``, ``classifier.by_method``), which
    label the models."""

    dataset_name: str
    metric: str = "acsa"
    alpha: float = 0.05
    testsets: list[str] = field(default_factory=lambda: ["test", "test_imbalanced", "holdout"])
    bootstrap_resamples: int = 1000
    seed: int = 0
    sampler: dict | None = None
    autoencoder: dict | None = None
    losses: dict | None = None
    heads: dict | None = None
    by_method: dict | None = None

    def __post_init__(self):
        object.__setattr__(self, "testsets", list(self.testsets))

    def labels(self, methods) -> dict[str, str]:
        """Each method id's label (``methods.method_label``)."""
        blocks = (self.sampler, self.autoencoder, self.losses, self.heads, self.by_method)
        return {method: method_label(method, *blocks) for method in methods}


def model_name(method: str, classifier: str, labels: dict | None = None) -> str:
    """The name a model goes by in tables and text: its method's label (the id with the settings
    that change its meaning, ``methods.method_label``) and its classifier."""
    return f"{(labels or {}).get(method, method)} / {classifier}"


def read_metrics(metric_files, labels: dict | None = None) -> pd.DataFrame:
    """Every evaluation's scores, one row each (nested records such as the environment the
    scores were computed in are left out: they are no score). ``model`` is the labelled name;
    ``method`` stays the bare id that scripts match on."""
    results = [read_json(p) for p in metric_files]
    flat = [{k: v for k, v in r.items() if not isinstance(v, dict | list)} for r in results]
    per_fold = pd.DataFrame(flat)
    return name_models(per_fold, labels)


def name_models(per_fold: pd.DataFrame, labels: dict | None) -> pd.DataFrame:
    pairs = zip(per_fold["method"], per_fold["classifier"], strict=True)
    return per_fold.assign(model=[model_name(m, c, labels) for m, c in pairs])


def read_synthetic_checks(check_files) -> pd.DataFrame:
    """One row per (method, fold) with the overall nearest-neighbour ratios."""
    rows = [
        {"method": c["method"], "fold": c["fold"], **c["overall"]}
        for c in (read_json(p) for p in check_files)
    ]
    return pd.DataFrame(rows, columns=["method", "fold", *CHECK_COLUMNS])


def leaderboard_table(
    per_fold: pd.DataFrame, checks: pd.DataFrame, metric: str, testsets: list[str]
) -> pd.DataFrame:
    """Mean, sd and 95 % t-interval over folds of every metric, per test set and model; the mean
    rank on ``metric``; the mean synthetic-sample ratios of generating methods."""
    rows = []
    for (testset, method, classifier), group in per_fold.groupby(KEYS, sort=False):
        row = {"testset": testset, "method": method, "classifier": classifier}
        row["model"] = group["model"].iloc[0]
        row["folds"] = len(group)
        for name in METRICS:
            values = group[name].to_numpy(dtype=float)
            # every metric lies in [0, 1]; with few folds the t-interval would reach beyond
            low, high = np.clip(comparison.t_interval(values), 0.0, 1.0)
            sd = float(values.std(ddof=1)) if len(values) > 1 else 0.0
            row.update(
                {
                    f"{name}_mean": float(values.mean()),
                    f"{name}_sd": sd,
                    f"{name}_ci95_low": low,
                    f"{name}_ci95_high": high,
                }
            )
        rows.append(row)
    board = pd.DataFrame(rows)
    ranks = []
    for testset, group in per_fold.groupby("testset"):
        table = comparison.block_table(group, metric)
        for model, rank in comparison.mean_ranks(table).items():
            ranks.append({"testset": testset, "model": model, "mean_rank": rank})
    board = board.merge(pd.DataFrame(ranks), on=["testset", "model"], how="left")
    ratios = checks.groupby("method")[CHECK_COLUMNS].mean().reset_index()
    board = board.merge(ratios, on="method", how="left")
    order = {name: i for i, name in enumerate(testsets)}
    board = board.assign(_order=board["testset"].map(order).fillna(len(order)))
    board = board.sort_values(["_order", f"{metric}_mean"], ascending=[True, False])
    return board.drop(columns="_order").reset_index(drop=True)


def selected_model(per_fold: pd.DataFrame, metric: str) -> str | None:
    """The model with the highest mean ``metric`` on the folds' holdouts, or None without
    holdout results: choosing on the test set would make its score the best of many draws."""
    holdout = per_fold[per_fold["testset"] == "holdout"]
    if holdout.empty:
        return None
    return str(holdout.groupby("model", sort=True)[metric].mean().idxmax())


def missing_reference(selected: str, testset: str) -> str:
    """Why a test set cannot be judged: the model selected on the holdouts has no scores there
    (the best one there in its place would be a choice made on the test set), and the fix."""
    return (
        f"{selected}, the model selected on the folds' holdouts, has no scores on test set "
        f"{testset!r}, so nothing there can be compared with it. Evaluate it there: keep "
        f"{testset!r} in 'testsets' and rerun the workflow (its evaluate jobs for {testset!r}), "
        f"or pass the summary its metrics.json files for {testset!r}"
    )


def test_images(models: dict, reference: str) -> int:
    """How many test images the reference was scored on, over all folds (``models``: model ->
    fold -> predictions); 0 without its predictions."""
    frames = models.get(reference, {}).values()
    return len(set().union(*(set(frame["index"]) for frame in frames)))


def with_resolution(against: pd.DataFrame, images: int) -> pd.DataFrame:
    """The comparisons with the smallest difference each could tell apart (``resolution``, in
    the metric's units), the test that sets it (``resolution_by``) and the test images."""
    widths = [comparison.resolution(row) for _, row in against.iterrows()]
    return against.assign(
        resolution=[width for width, _ in widths],
        resolution_by=[test for _, test in widths],
        test_images=images,
    )


def run_comparisons(per_fold: pd.DataFrame, settings: SummarySettings, predictions: dict):
    """Friedman test, and every model against the reference model by the corrected t and the
    paired bootstrap, for every test set (in the config's order) and metric; plus the full
    result (ranks, Nemenyi) per test set and metric. The reference is the model selected on
    the holdouts (a test set without its scores is an error, ``missing_reference``), or without
    holdouts the best on ``settings.metric`` of each test set.
    ``predictions``: testset -> model -> fold -> frame (index, true, predicted)."""
    alpha, testsets, metric = settings.alpha, settings.testsets, settings.metric
    significance, versus, results = [], [], {}
    present = set(per_fold["testset"])
    selected = selected_model(per_fold, metric)
    for testset in [t for t in testsets if t in present] + sorted(present - set(testsets)):
        group = per_fold[per_fold["testset"] == testset]
        if selected is not None and selected not in set(group["model"]):
            raise ValueError(missing_reference(selected, testset))
        reference = selected or str(group.groupby("model")[metric].mean().idxmax())
        images = test_images(predictions.get(testset, {}), reference)
        resampled = bootstrap.resampled_scores(
            predictions.get(testset, {}), settings.bootstrap_resamples, settings.seed
        )
        for name in METRICS:
            scores = {model: values[name] for model, values in resampled.items()}
            result = comparison.compare(group, name, alpha, reference, scores)
            results[testset, name] = result
            significance.append(
                {
                    "testset": testset,
                    "metric": name,
                    **result["friedman"],
                    "significant": bool(result["friedman"]["p_value"] < alpha),
                    "critical_difference": result["critical_difference"],
                    "best": result["ranks"].index[0],
                }
            )
            versus.append(
                with_resolution(result["against"], images).assign(testset=testset, metric=name)
            )
    versus = pd.concat(versus, ignore_index=True)
    versus = versus[["testset", "metric", *[c for c in versus if c not in ("testset", "metric")]]]
    return pd.DataFrame(significance), versus, results


def posthoc_table(results: dict, metric: str) -> pd.DataFrame:
    """Nemenyi p-values of ``metric`` in long form: test set, model a, model b, p."""
    rows = []
    for (testset, name), result in results.items():
        if name != metric or result["nemenyi"] is None:
            continue
        matrix = result["nemenyi"]
        for i, a in enumerate(matrix.index):
            for b in matrix.columns[i + 1 :]:
                rows.append(
                    {"testset": testset, "model_a": a, "model_b": b, "p_nemenyi": matrix.loc[a, b]}
                )
    return pd.DataFrame(rows, columns=["testset", "model_a", "model_b", "p_nemenyi"])


@dataclass(frozen=True)
class Verdict:
    """One dataset's evaluations judged: every fold's scores (``per_fold``, models labelled), the
    synthetic-sample checks, the leaderboard, the Friedman tests (``significance``), every model
    against the reference (``against``) and the full comparison per (test set, metric)."""

    labels: dict[str, str]
    per_fold: pd.DataFrame
    checks: pd.DataFrame
    board: pd.DataFrame
    significance: pd.DataFrame
    against: pd.DataFrame
    results: dict


def judge(inputs: dict, settings: SummarySettings) -> Verdict:
    """Read the evaluations named in ``inputs`` (``metrics``, and where given ``predictions``,
    ``checks``) and compare the models."""
    per_fold = read_metrics(inputs["metrics"])
    labels = settings.labels(per_fold["method"].unique())
    per_fold = name_models(per_fold, labels).sort_values([*KEYS, "fold"])
    checks = read_synthetic_checks(inputs.get("checks", ()))
    board = leaderboard_table(per_fold, checks, settings.metric, settings.testsets)
    predictions = {
        testset: {model_name(*key, labels): folds for key, folds in models.items()}
        for testset, models in bootstrap.read_predictions(inputs.get("predictions", ())).items()
    }
    significance, against, results = run_comparisons(per_fold, settings, predictions)
    return Verdict(labels, per_fold, checks, board, significance, against, results)
