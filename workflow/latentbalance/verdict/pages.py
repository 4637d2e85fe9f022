"""What the summary says: the verdict (the model selected on the holdouts, its test scores,
each comparison by the corrected t and the paired bootstrap), the message at the end of a run,
and the leaderboard as Markdown and as one HTML page that puts the answer first."""

from __future__ import annotations

import base64
import html
import shlex
from pathlib import Path

import numpy as np
import pandas as pd

from ..io import read_json
from ..training.environment import cpu_fallbacks
from .comparison import resolution
from .judging import CHECK_COLUMNS, SummarySettings, Verdict
from .metrics import METRICS


def _interval(board_row, name: str) -> str:
    mean, sd = board_row[f"{name}_mean"], board_row[f"{name}_sd"]
    if board_row["folds"] < 2:  # one fold has no spread: a "± 0.0000" would claim one
        return f"{mean:.4f}"
    low, high = board_row[f"{name}_ci95_low"], board_row[f"{name}_ci95_high"]
    text = f"{mean:.4f} ± {sd:.4f}"
    return text if np.isnan(low) else f"{text} [{low:.3f}, {high:.3f}]"


def _p(value) -> str:
    # a p-value is an upper tail: below 1e-4 the digits say nothing more, and 0 would be a lie
    if value is None or np.isnan(value):
        return "n/a"
    return "< 0.0001" if value < 1e-4 else f"{value:.3g}"


def _is(p_text: str) -> str:
    return p_text if p_text.startswith("<") else f"= {p_text}"


def bootstrap_p(row) -> str:
    """The bootstrap's p as text: the bound ``< 1/B`` where no resample crossed 0, never 0."""
    if bool(row["p_bootstrap_bound"]):
        return f"< {1 / row['resamples']:g}"  # no resample crossed 0: all B can say
    return _p(row["p_bootstrap"])


def comparison_line(row, alpha: float) -> str:
    """One comparison of the reference model with another: the difference, what the corrected t
    and the bootstrap each say, and the decision (significant only when both agree)."""
    if np.isnan(row["t_ci95_low"]):
        t_text = "corrected t undefined (the same difference on every fold)"
    else:
        t_text = (
            f"corrected t [{row['t_ci95_low']:+.4f}, {row['t_ci95_high']:+.4f}], "
            f"p {_is(_p(row['p_t']))}"
        )
    if row["resamples"] > 0:
        boot_text = (
            f"bootstrap over test images [{row['bootstrap_ci95_low']:+.4f}, "
            f"{row['bootstrap_ci95_high']:+.4f}], p {_is(bootstrap_p(row))}"
        )
    else:
        boot_text = "no bootstrap"
    verdict = "significant" if row["significant"] else "not significant"
    resolved = "" if row["significant"] else resolution_text(row)
    return (
        f"vs {row['model']} on {row['testset']}: {row['difference']:+.4f}; {t_text}; "
        f"{boot_text}: {verdict} at {alpha} ({row['decision']}){resolved}."
    )


def resolution_text(row) -> str:
    """What a comparison that found nothing could have found: the smallest difference its folds
    and test images could tell apart (``comparison.resolution``, in points: the metric x 100),
    and whether more folds or more test images would narrow it; empty without an interval."""
    width, widest = resolution(row)
    if widest is None:
        return ""
    metric = {"acsa": "ACSA"}.get(row.get("metric"), row.get("metric", ""))
    images = row.get("test_images", 0)
    data = f"these {row['folds']} folds" + (f" and {images} test images" if images else "")
    more = "folds" if widest == "corrected t" else "test images"
    return (
        f"; no difference under {100 * width:.1f} {metric} points could be told apart with "
        f"{data} (the {widest}'s half-width, the wider: more {more} would narrow it)"
    )


def _rows(board, testset):
    return board[board["testset"] == testset]


def _row(board, testset, model):
    return _rows(board, testset).set_index("model").loc[model]


def _folds(row) -> str:
    return (
        "one fold" if row["folds"] < 2 else f"mean ± sd [95 % t-interval] over {row['folds']} folds"
    )


def reported_testsets(board, testsets) -> list[str]:
    """The test sets whose scores are reported: every configured one present but holdout (or
    holdout alone when it is the only one)."""
    present = [t for t in testsets if t in set(board["testset"])]
    return [t for t in present if t != "holdout"] or present


def reference(board, against, testset, metric) -> str:
    """The model the comparisons are made against: the selected one (the ``reference`` column
    that judging.run_comparisons filled in), or the best on ``metric`` when there is no other."""
    rows = against[(against["testset"] == testset) & (against["metric"] == metric)]
    if len(rows):
        return rows["reference"].iloc[0]
    return _rows(board, testset).iloc[0]["model"]


def verdict_lines(verdict: Verdict, settings: SummarySettings) -> list[str]:
    """Which model is selected and how, its scores on the reported test sets (once), then every
    comparison with it on those test sets, then Friedman's test over all models."""
    board, against, metric = verdict.board, verdict.against, settings.metric
    reported = reported_testsets(board, settings.testsets)
    selected_on_holdout = "holdout" in set(board["testset"]) and reported != ["holdout"]
    first = reported[0]
    chosen = reference(board, against, first, metric)
    if selected_on_holdout:
        held = _row(board, "holdout", chosen)
        scores = ", ".join(f"on {t} {_interval(_row(board, t, chosen), metric)}" for t in reported)
        lines = [
            f"Best on {metric}: {chosen}, selected on the folds' holdouts "
            f"({_interval(held, metric)}); {scores} ({_folds(held)})."
        ]
    else:
        best = _row(board, first, chosen)
        n_models = len(_rows(board, first))
        lines = [
            f"Best on {metric}: {chosen} with {_interval(best, metric)} on test set {first} "
            f"({_folds(best)}), picked on that test set: biased upwards.",
            f"Picked on test set {first} itself (holdout is not among testsets): the best of "
            f"{n_models} models on the images it is scored on is favoured by their noise, so "
            "this score is biased upwards; add holdout to testsets to select without the test "
            "set.",
        ]
    if _row(board, first, chosen)["folds"] < 2:
        return [*lines, "One fold only: no interval or test is possible; run more folds."]
    for testset in reported:
        rows = against[(against["testset"] == testset) & (against["metric"] == metric)]
        lines.extend(comparison_line(row, settings.alpha) for _, row in rows.iterrows())
    friedman = friedman_line(verdict.significance, first, metric, settings.alpha)
    return lines + [f"On {first}: {line}" for line in friedman]


def short_headline(verdict: Verdict, settings: SummarySettings) -> str:
    """The answer in two lines: the selected (or best) model with its scores, then its
    comparison with the runner-up on the first reported test set (the runner-up of the
    selection: on the holdouts when they chose). The report's landing page and the end of a run
    show it."""
    board, against, metric = verdict.board, verdict.against, settings.metric
    lines = verdict_lines(verdict, settings)
    first = reported_testsets(board, settings.testsets)[0]
    ranking = "holdout" if "holdout" in set(board["testset"]) else first
    chosen = reference(board, against, first, metric)
    order = [m for m in _rows(board, ranking)["model"] if m != chosen]
    rows = against[(against["testset"] == first) & (against["metric"] == metric)]
    rows = rows[rows["model"] == order[0]] if order else rows.iloc[:0]
    if len(rows) and _row(board, first, chosen)["folds"] >= 2:
        second = comparison_line(rows.iloc[0], settings.alpha)
    else:
        second = lines[-1] if len(lines) > 1 else ""
    return f"{lines[0]}\n{second}\n" if second else f"{lines[0]}\n"


def run_message(headline_files: dict, configfiles=()) -> str:
    """What the end of a run prints: for each dataset whose summary exists, its short headline
    and where the leaderboard is; then the command that builds the report (with the run's
    ``--configfile`` options, or the report would describe the default run). Empty when no
    summary exists, as after a run of only some targets. First, once, why ``compute.device:
    auto`` ran networks on the CPU where it did (from each summary's environment.json)."""
    parts, fallbacks = [], set()
    for dataset, path in headline_files.items():
        path = Path(path)
        if not path.exists():
            continue
        environment = path.with_name("environment.json")
        if environment.exists():
            fallbacks |= cpu_fallbacks(read_json(environment))
        first, *rest = path.read_text().splitlines()
        parts.append(f"{dataset}: {first}")
        parts.extend(f"    {line}" for line in rest)
        parts.append(f"    leaderboard: {path.with_name('leaderboard.md')} (and .html)")
    if not parts:
        return ""
    said = [f"compute.device 'auto' ran the networks on the CPU: {r}" for r in sorted(fallbacks)]
    options = "".join(f" --configfile {shlex.quote(str(f))}" for f in configfiles)
    return "\n".join([*said, *parts, f"The report: snakemake --report report.html{options}"])


NOT_FOR_SELECTION = (
    "Per test set, for information: the models were chosen on the folds' holdouts; picking "
    "the best of these tables would select on the test set."
)


def section_title(board, testset) -> str:
    if "holdout" not in set(board["testset"]):
        return f"test set: {testset}"
    if testset == "holdout":
        return "test set: holdout (selects the model)"
    return f"test set: {testset} (information, not for selection)"


def friedman_line(significance, testset, metric, alpha) -> list[str]:
    test = significance[(significance["testset"] == testset) & (significance["metric"] == metric)]
    if not len(test) or test.iloc[0]["n_models"] < 3:
        return []
    test = test.iloc[0]
    return [
        f"Friedman test over {test['n_models']} models and {test['n_blocks']} folds: "
        f"chi² = {test['statistic']:.3f}, p {_is(_p(test['p_value']))} "
        f"({'the models differ' if test['significant'] else 'no significant difference'}"
        f" at {alpha}); Nemenyi critical difference of mean ranks "
        f"{test['critical_difference']:.2f}."
    ]


def score_table(rows, raw: bool = False) -> pd.DataFrame:
    table = rows[["model", "method", "folds", "mean_rank"]].copy()
    for name in METRICS:
        table[name] = [_interval(r, name) for _, r in rows.iterrows()]
    for column in CHECK_COLUMNS:
        table[column] = rows[column] if raw else rows[column].round(3)
    return table


def markdown_report(verdict: Verdict, settings: SummarySettings) -> str:
    """The leaderboard page: the verdict, then each test set's Friedman test and scores."""
    board = verdict.board
    parts = [
        f"# {settings.dataset_name}: mean ± sd [95 % t-interval] over folds\n",
        "## verdict\n",
    ]
    parts.extend(f"- {line}" for line in verdict_lines(verdict, settings))
    if "holdout" in set(board["testset"]):
        parts.append(f"\n{NOT_FOR_SELECTION}\n")
    for testset in [t for t in settings.testsets if t in set(board["testset"])]:
        parts.append(f"\n## {section_title(board, testset)}\n")
        friedman = friedman_line(verdict.significance, testset, settings.metric, settings.alpha)
        parts.extend(f"- {line}" for line in friedman)
        rows = board[board["testset"] == testset]
        parts.append("\n" + score_table(rows).to_markdown(index=False) + "\n")
    return "\n".join(parts) + "\n"


def _image_tag(path) -> str:
    if not path or not Path(path).exists():
        return ""
    data = base64.b64encode(Path(path).read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" style="max-width:100%">'


def html_report(verdict: Verdict, settings: SummarySettings, figures: dict) -> str:
    """A self-contained page: the verdict, the scores per test set, the tests, the check.
    ``figures``: the PNG files embedded, ``bars`` (the leaderboard) and ``cd`` (the critical
    difference diagram), each where it exists."""
    dataset_name, board, metric = settings.dataset_name, verdict.board, settings.metric
    significance, alpha = verdict.significance, settings.alpha

    def table(frame: pd.DataFrame) -> str:
        return frame.to_html(index=False, float_format=lambda v: f"{v:.4g}", na_rep="n/a", border=0)

    body = [f"<h1>{html.escape(dataset_name)}</h1><h2>Verdict</h2><ul>"]
    body.extend(f"<li>{html.escape(line)}</li>" for line in verdict_lines(verdict, settings))
    body.append("</ul>")
    if "holdout" in set(board["testset"]):
        body.append(f"<p>{html.escape(NOT_FOR_SELECTION)}</p>")
    for testset in [t for t in settings.testsets if t in set(board["testset"])]:
        # the heading names the test set alone (links and readers find it by that); the role
        # follows in the line below it
        role = section_title(board, testset).removeprefix(f"test set: {testset}").strip(" ()")
        body.append(f"<h2>Test set: {html.escape(testset)}</h2>")
        body.append(f"<p><em>{html.escape(role)}</em></p><ul>" if role else "<ul>")
        body.extend(
            f"<li>{html.escape(line)}</li>"
            for line in friedman_line(significance, testset, metric, alpha)
        )
        body.append("</ul>")
        body.append(table(score_table(board[board["testset"] == testset], raw=True)))
    body.append(f"<h2>Leaderboard: mean ± sd over folds</h2>{_image_tag(figures.get('bars'))}")
    body.append(
        f"<h2>Critical difference ({html.escape(metric)})</h2>{_image_tag(figures.get('cd'))}"
    )
    body.append(
        f"<h2>Against the selected model, every metric (alpha {alpha}): corrected t and "
        "paired bootstrap, significant only when both agree</h2>"
    )
    body.append(table(verdict.against))
    body.append("<h2>Friedman test, every metric</h2>")
    body.append(table(significance))
    body.append("<h2>Synthetic-sample check (nearest real image vs. real neighbours)</h2>")
    body.append(
        "<p>copy_ratio ≈ 1: synthetic images are as far from real ones as real ones from each "
        "other; ≈ 0: copies. diversity_ratio ≈ 0: collapse onto few images. exact_copies: share "
        "identical to a real image.</p>"
    )
    checks = verdict.checks.sort_values(["method", "fold"])
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
