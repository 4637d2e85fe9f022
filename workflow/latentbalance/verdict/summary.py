"""The per-dataset summary: every fold's metrics, the leaderboard (mean ± sd and 95 % t-interval
over folds), the model selected on the folds' holdouts, tests between it and every other model,
the synthetic-sample check, figures, and one HTML page that puts the answer first: which model
is selected, what it scores on the test sets, by how much it differs from the others and whether
that is significant."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import yaml

from ..io import atomic_path, read_json, write_csv, write_json
from . import plots
from .judging import SummarySettings, Verdict, judge, model_name, posthoc_table
from .metrics import METRICS
from .pages import html_report, markdown_report, short_headline

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


def read_histories(history_files, labels: dict | None = None) -> pd.DataFrame:
    """Every classifier's training history, labelled from its path
    (``.../fold<k>/classifier/<method>/<arch>/history.csv``)."""
    frames = []
    for path in map(Path, history_files):
        frame = pd.read_csv(path)
        fold, method, arch = path.parts[-5], path.parts[-3], path.parts[-2]
        frames.append(
            frame.assign(
                fold=int(fold.removeprefix("fold")), model=model_name(method, arch, labels)
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def config_yaml(config: dict) -> str:
    """The run's configuration as a config file that reruns it (``--configfile``)."""
    header = (
        "# The configuration this summary was computed with, every default filled in (each key:\n"
        "# config/README.md). Rerun it with: snakemake --configfile <this file>\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _write_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def summarize(
    inputs: dict, settings: SummarySettings, out: dict, config: dict | None = None
) -> pd.DataFrame:
    """Judge the evaluations in ``inputs`` (every ``metrics.json``; their ``predictions.csv``
    feed the paired bootstrap; the classifiers' ``histories``; the synthetic-sample ``checks``)
    and write the files ``out`` names: ``per_fold``, ``leaderboard``, ``markdown`` and ``plot``
    always, each other one (``config``, the run's ``config`` rewritten; ``environment``,
    ``comparison``, ``significance``, ``posthoc``, ``checks``, ``headline``,
    ``critical_difference``, ``curves``, ``html``) where named. Returns the leaderboard."""
    if out.get("config"):
        _write_text(out["config"], config_yaml(config))
    if out.get("environment"):
        write_json(out["environment"], environments([read_json(p) for p in inputs["metrics"]]))
    verdict = judge(inputs, settings)
    _write_tables(verdict, settings, out)
    _write_text_pages(verdict, settings, out)
    _write_figures(verdict, settings, out, inputs.get("histories", ()))
    if out.get("html"):
        figures = {"bars": out["plot"], "cd": out.get("critical_difference")}
        _write_text(out["html"], html_report(verdict, settings, figures))
    return verdict.board


def _write_tables(verdict: Verdict, settings: SummarySettings, out: dict) -> None:
    write_csv(verdict.per_fold, out["per_fold"])
    write_csv(verdict.board, out["leaderboard"])
    tables = {
        "comparison": lambda: verdict.against,
        "significance": lambda: verdict.significance,
        "posthoc": lambda: posthoc_table(verdict.results, settings.metric),
        "checks": lambda: verdict.checks.sort_values(["method", "fold"]),
    }
    for name, table in tables.items():
        if out.get(name):
            write_csv(table(), out[name])


def _write_text_pages(verdict: Verdict, settings: SummarySettings, out: dict) -> None:
    """The markdown page (also printed to the log) and the short headline."""
    markdown = markdown_report(verdict, settings)
    _write_text(out["markdown"], markdown)
    print(markdown)
    if out.get("headline"):
        _write_text(out["headline"], short_headline(verdict, settings))


def _write_figures(verdict: Verdict, settings: SummarySettings, out: dict, history_files) -> None:
    name, metric = settings.dataset_name, settings.metric
    plots.plot_leaderboard(
        verdict.per_fold, list(METRICS), f"{name}: mean ± sd over folds", out["plot"]
    )
    if out.get("critical_difference"):
        results = verdict.results
        panels = {t: results[t, metric] for t in settings.testsets if (t, metric) in results}
        plots.plot_critical_differences(
            panels,
            metric,
            settings.alpha,
            f"{name}: mean rank on {metric}",
            out["critical_difference"],
        )
    if out.get("curves"):
        histories = read_histories(history_files, verdict.labels)
        plots.plot_training_curves(histories, f"{name}: classifier training", out["curves"])
