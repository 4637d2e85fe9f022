"""The per-dataset summary: every fold's metrics, the leaderboard (mean ± sd and 95 % t-interval
over folds), significance tests between models, the synthetic-sample check, figures, and one
HTML page that puts the answer first: which model wins, by how much, and whether it is
significant."""

from __future__ import annotations

import base64
import html
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from . import comparison, plots
from .io import atomic_path, read_json, write_csv, write_json
from .metrics import METRICS

log = logging.getLogger(__name__)


def environments(results: list[dict]) -> list[dict]:
    """The distinct environments (library versions, devices) the results were computed with,
    each with the models that used it."""
    distinct = {}
    for result in results:
        key = repr(result.get("environment"))
        entry = distinct.setdefault(key, {"environment": result.get("environment"), "models": []})
        entry["models"].append(
            f"fold{result['fold']}/{result['method']}/{result['classifier']}/{result['testset']}"
        )
    if len(distinct) > 1:
        log.warning(
            "results were computed with %d different environments (library versions or "
            "devices); see the summary's environment.json",
            len(distinct),
        )
    return list(distinct.values())


KEYS = ["testset", "method", "classifier"]
CHECK_COLUMNS = ["copy_ratio", "diversity_ratio", "exact_copies"]


def read_metrics(metric_files) -> pd.DataFrame:
    """Every evaluation's scores, one row each (nested records such as the environment the
    scores were computed in are left out: they are no score)."""
    results = [read_json(p) for p in metric_files]
    flat = [{k: v for k, v in r.items() if not isinstance(v, dict | list)} for r in results]
    per_fold = pd.DataFrame(flat)
    per_fold["model"] = per_fold["method"] + " / " + per_fold["classifier"]
    return per_fold


def read_synthetic_checks(check_files) -> pd.DataFrame:
    """One row per (method, fold) with the overall nearest-neighbour ratios."""
    rows = [
        {"method": c["method"], "fold": c["fold"], **c["overall"]}
        for c in (read_json(p) for p in check_files)
    ]
    return pd.DataFrame(rows, columns=["method", "fold", *CHECK_COLUMNS])


def read_histories(history_files) -> pd.DataFrame:
    """Every classifier's training history, labelled from its path
    (``.../fold<k>/classifier/<method>/<arch>/history.csv``)."""
    frames = []
    for path in map(Path, history_files):
        frame = pd.read_csv(path)
        fold, method, arch = path.parts[-5], path.parts[-3], path.parts[-2]
        frames.append(frame.assign(fold=int(fold.removeprefix("fold")), model=f"{method} / {arch}"))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def leaderboard_table(
    per_fold: pd.DataFrame, checks: pd.DataFrame, metric: str, testsets: list[str]
) -> pd.DataFrame:
    """Mean, sd and 95 % t-interval over folds of every metric, per test set and model; the mean
    rank on ``metric``; the mean synthetic-sample ratios of generating methods."""
    rows = []
    for (testset, method, classifier), group in per_fold.groupby(KEYS, sort=False):
        row = {"testset": testset, "method": method, "classifier": classifier}
        row["model"] = f"{method} / {classifier}"
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


def run_comparisons(per_fold: pd.DataFrame, alpha: float, testsets: list[str]):
    """Friedman test and the paired tests against the best model, for every test set (in the
    config's order) and metric; plus the full result (ranks, Nemenyi) per test set and metric."""
    significance, against, results = [], [], {}
    present = set(per_fold["testset"])
    for testset in [t for t in testsets if t in present] + sorted(present - set(testsets)):
        group = per_fold[per_fold["testset"] == testset]
        for name in METRICS:
            result = comparison.compare(group, name, alpha)
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
            against.append(result["against_best"].assign(testset=testset, metric=name))
    against = pd.concat(against, ignore_index=True)
    against = against[
        ["testset", "metric", *[c for c in against if c not in ("testset", "metric")]]
    ]
    return pd.DataFrame(significance), against, results


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


# --- text ---------------------------------------------------------------------------------


def _interval(board_row, name: str) -> str:
    mean, sd = board_row[f"{name}_mean"], board_row[f"{name}_sd"]
    if board_row["folds"] < 2:  # one fold has no spread: a "± 0.0000" would claim one
        return f"{mean:.4f}"
    low, high = board_row[f"{name}_ci95_low"], board_row[f"{name}_ci95_high"]
    text = f"{mean:.4f} ± {sd:.4f}"
    return text if np.isnan(low) else f"{text} [{low:.3f}, {high:.3f}]"


def _p(value) -> str:
    return "n/a" if value is None or np.isnan(value) else f"{value:.3g}"


def headline(
    board: pd.DataFrame,
    significance: pd.DataFrame,
    against: pd.DataFrame,
    testset: str,
    metric: str,
    alpha: float,
) -> list[str]:
    """Sentences that answer: who wins on ``metric``, by how much, is it significant."""
    rows = board[board["testset"] == testset]
    best = rows.iloc[0]
    if best["folds"] < 2:
        return [
            f"Best on {metric}: {best['model']} with {_interval(best, metric)} (one fold).",
            "One fold only: no interval or test is possible; run more folds.",
        ]
    lines = [
        f"Best on {metric}: {best['model']} with {_interval(best, metric)} "
        f"(mean ± sd [95 % t-interval] over {best['folds']} folds)."
    ]
    versus = against[(against["testset"] == testset) & (against["metric"] == metric)]
    for _, row in versus.iterrows():
        verdict = (
            f"significant at {alpha} (Holm-adjusted paired t-test)"
            if row["significant"]
            else f"not significant at {alpha}"
        )
        lines.append(
            f"vs {row['model']}: {row['difference']:+.4f} "
            f"[{row['ci95_low']:+.4f}, {row['ci95_high']:+.4f}], "
            f"p = {_p(row['p_holm'])} (t, Holm), Wilcoxon p = {_p(row['p_wilcoxon'])}: {verdict}."
        )
    test = significance[(significance["testset"] == testset) & (significance["metric"] == metric)]
    test = test.iloc[0]
    if test["n_models"] >= 3:
        lines.append(
            f"Friedman test over {test['n_models']} models and {test['n_blocks']} folds: "
            f"chi² = {test['statistic']:.3f}, p = {_p(test['p_value'])} "
            f"({'the models differ' if test['significant'] else 'no significant difference'}"
            f" at {alpha}); Nemenyi critical difference of mean ranks "
            f"{test['critical_difference']:.2f}."
        )
    return lines


def markdown_report(dataset_name, board, significance, against, testsets, metric, alpha) -> str:
    parts = [f"# {dataset_name}: mean ± sd [95 % t-interval] over folds\n"]
    for testset in [t for t in testsets if t in set(board["testset"])]:
        rows = board[board["testset"] == testset]
        parts.append(f"## test set: {testset}\n")
        parts.extend(
            f"- {line}" for line in headline(board, significance, against, testset, metric, alpha)
        )
        table = rows[["model", "folds", "mean_rank"]].copy()
        for name in METRICS:
            table[name] = [_interval(r, name) for _, r in rows.iterrows()]
        for column in CHECK_COLUMNS:
            table[column] = rows[column].round(3)
        parts.append("\n" + table.to_markdown(index=False) + "\n")
    return "\n".join(parts) + "\n"


def _image_tag(path) -> str:
    if not path or not Path(path).exists():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" style="max-width:100%">'


def html_report(
    dataset_name, board, significance, against, checks, testsets, metric, alpha, figures
) -> str:
    """A self-contained page: headline per test set, the leaderboard, the tests, the check."""

    def table(frame: pd.DataFrame) -> str:
        return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="n/a", border=0)

    body = [f"<h1>{html.escape(dataset_name)}</h1>"]
    for testset in [t for t in testsets if t in set(board["testset"])]:
        rows = board[board["testset"] == testset]
        body.append(f"<h2>Test set: {html.escape(testset)}</h2><ul>")
        body.extend(
            f"<li>{html.escape(line)}</li>"
            for line in headline(board, significance, against, testset, metric, alpha)
        )
        body.append("</ul>")
        shown = rows[["model", "folds", "mean_rank"]].copy()
        for name in METRICS:
            shown[name] = [_interval(r, name) for _, r in rows.iterrows()]
        for column in CHECK_COLUMNS:
            shown[column] = rows[column]
        body.append(table(shown))
    body.append(f"<h2>Leaderboard: mean ± sd over folds</h2>{_image_tag(figures.get('bars'))}")
    body.append(
        f"<h2>Critical difference ({html.escape(metric)})</h2>{_image_tag(figures.get('cd'))}"
    )
    body.append(f"<h2>Against the best model, every metric (alpha {alpha})</h2>")
    body.append(table(against))
    body.append("<h2>Friedman test, every metric</h2>")
    body.append(table(significance))
    body.append("<h2>Synthetic-sample check (nearest real image vs. real neighbours)</h2>")
    body.append(
        "<p>copy_ratio ≈ 1: synthetic images are as far from real ones as real ones from each "
        "other; ≈ 0: copies. diversity_ratio ≈ 0: collapse onto few images. exact_copies: share "
        "identical to a real image.</p>"
    )
    body.append(table(checks) if len(checks) else "<p>No method generates images.</p>")
    style = (
        "body{font-family:sans-serif;margin:1.5em;max-width:80em}"
        "table{border-collapse:collapse;font-size:0.85em;margin:0.5em 0 1.5em}"
        "td,th{padding:0.25em 0.6em;border-bottom:1px solid #ddd;text-align:right}"
        "th{background:#f3f3f3}"
    )
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(dataset_name)}"
        f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def _write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def summarize(
    metric_files,
    dataset_name: str,
    out_per_fold,
    out_leaderboard,
    out_markdown,
    out_plot,
    out_environment=None,
    history_files=(),
    check_files=(),
    metric: str = "acsa",
    alpha: float = 0.05,
    testsets=("test", "test_imbalanced", "holdout"),
    out_comparison=None,
    out_significance=None,
    out_posthoc=None,
    out_critical_difference=None,
    out_curves=None,
    out_checks=None,
    out_html=None,
) -> pd.DataFrame:
    testsets = list(testsets)
    if out_environment:
        write_json(out_environment, environments([read_json(p) for p in metric_files]))
    per_fold = read_metrics(metric_files).sort_values(["testset", "method", "classifier", "fold"])
    write_csv(per_fold.drop(columns="model"), out_per_fold)
    checks = read_synthetic_checks(check_files)
    board = leaderboard_table(per_fold, checks, metric, testsets)
    write_csv(board, out_leaderboard)
    significance, against, results = run_comparisons(per_fold, alpha, testsets)

    markdown = markdown_report(dataset_name, board, significance, against, testsets, metric, alpha)
    _write_text(out_markdown, markdown)
    print(markdown)

    plots.plot_leaderboard(
        per_fold, list(METRICS), f"{dataset_name}: mean ± sd over folds", out_plot
    )
    if out_comparison:
        write_csv(against, out_comparison)
    if out_significance:
        write_csv(significance, out_significance)
    if out_posthoc:
        write_csv(posthoc_table(results, metric), out_posthoc)
    if out_critical_difference:
        panels = {t: results[t, metric] for t in testsets if (t, metric) in results}
        plots.plot_critical_differences(
            panels, metric, alpha, f"{dataset_name}: mean rank on {metric}", out_critical_difference
        )
    if out_curves:
        plots.plot_training_curves(
            read_histories(history_files), f"{dataset_name}: classifier training", out_curves
        )
    if out_checks:
        write_csv(checks.sort_values(["method", "fold"]), out_checks)
    if out_html:
        page = html_report(
            dataset_name,
            board,
            significance,
            against,
            checks.sort_values(["method", "fold"]),
            testsets,
            metric,
            alpha,
            {"bars": out_plot, "cd": out_critical_difference},
        )
        _write_text(out_html, page)
    return board
