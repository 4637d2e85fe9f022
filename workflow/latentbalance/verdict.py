"""What the summary says: the headline sentences (who wins, by how much, is it significant),
the message at the end of a run, and the leaderboard as Markdown and as one HTML page that puts
the answer first."""

from __future__ import annotations

import base64
import html
import shlex
from pathlib import Path

import numpy as np
import pandas as pd

from .metrics import METRICS

CHECK_COLUMNS = ["copy_ratio", "diversity_ratio", "exact_copies"]


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


def short_headline(
    board: pd.DataFrame,
    significance: pd.DataFrame,
    against: pd.DataFrame,
    testsets: list[str],
    metric: str,
    alpha: float,
) -> str:
    """The answer in two lines, on the first configured test set: the best model with its
    interval, then its margin over the runner-up and whether that is significant (the first two
    sentences of ``headline``). The report's landing page and the end of a run show it."""
    present = set(board["testset"])
    testset = next((t for t in testsets if t in present), board["testset"].iloc[0])
    lines = headline(board, significance, against, testset, metric, alpha)[:2]
    return f"Test set {testset}. " + "\n".join(lines) + "\n"


def run_message(headline_files: dict, configfiles=()) -> str:
    """What the end of a run prints: for each dataset whose summary exists, its short headline
    and where the leaderboard is; then the command that builds the report (with the run's
    ``--configfile`` options, or the report would describe the default run). Empty when no
    summary exists, as after a run of only some targets."""
    parts = []
    for dataset, path in headline_files.items():
        path = Path(path)
        if not path.exists():
            continue
        first, *rest = path.read_text().splitlines()
        parts.append(f"{dataset}: {first}")
        parts.extend(f"    {line}" for line in rest)
        parts.append(f"    leaderboard: {path.with_name('leaderboard.md')} (and .html)")
    if not parts:
        return ""
    options = "".join(f" --configfile {shlex.quote(str(f))}" for f in configfiles)
    return "\n".join([*parts, f"The report: snakemake --report report.html{options}"])


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
