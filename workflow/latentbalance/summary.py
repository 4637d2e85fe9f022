"""The per-dataset summary: every fold's metrics, the leaderboard (mean ± sd), a bar chart."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from . import plots
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


def summarize(
    metric_files,
    dataset_name: str,
    out_per_fold,
    out_leaderboard,
    out_markdown,
    out_plot,
    out_environment,
) -> pd.DataFrame:
    results = [read_json(p) for p in metric_files]
    write_json(out_environment, environments(results))
    per_fold = pd.DataFrame(results).drop(columns="environment", errors="ignore")
    per_fold = per_fold.sort_values(["testset", "method", "classifier", "fold"])
    write_csv(per_fold, out_per_fold)
    keys = ["testset", "method", "classifier"]
    grouped = per_fold.groupby(keys, sort=False)[list(METRICS)]
    mean, sd = grouped.mean(), grouped.std(ddof=1).fillna(0.0)
    leaderboard = mean.add_suffix("_mean").join(sd.add_suffix("_sd"))
    leaderboard.insert(0, "folds", grouped.size())
    leaderboard = leaderboard.reset_index().sort_values(
        ["testset", "acsa_mean"], ascending=[True, False]
    )
    write_csv(leaderboard, out_leaderboard)

    table = leaderboard[keys + ["folds"]].copy()
    for metric in METRICS:
        table[metric] = [
            f"{m:.4f} ± {s:.4f}"
            for m, s in zip(leaderboard[f"{metric}_mean"], leaderboard[f"{metric}_sd"], strict=True)
        ]
    markdown = f"# {dataset_name}: mean ± sd over folds\n\n" + table.to_markdown(index=False) + "\n"
    with atomic_path(out_markdown) as tmp:
        Path(tmp).write_text(markdown)
    print(markdown)

    per_fold = per_fold.assign(model=per_fold["method"] + " / " + per_fold["classifier"])
    plots.plot_leaderboard(
        per_fold, list(METRICS), f"{dataset_name}: mean ± sd over folds", out_plot
    )
    return leaderboard
