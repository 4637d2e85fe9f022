"""An equal tuning budget: every method chooses its training recipe among the same candidates, by
one rule fixed before the runs, on the validation data, never on a test set.

Each candidate is a finished run of the same protocol under one recipe (an overlay), named
``name=results/<dataset>``; the first is the shared recipe. The rule: per method, the candidate
with the highest mean ACSA on the holdout test set (with ``validation_per_class``, the balanced
validation set), over the folds every candidate ran for it; a tie keeps the earlier candidate.
Test-set scores are printed for the chosen recipe only, once.

    python benchmarks/recipe_choice.py shared=results/fmnist_lt_small \
        half=tuning/half/results/fmnist_lt_small double=tuning/double/results/fmnist_lt_small \
        batch64=tuning/batch64/results/fmnist_lt_small

(each candidate run in its own directory: benchmarks/configs/fmnist-lt-small-recipe-*.yaml).
It ends with the choices as ``classifier.by_method`` (each chosen recipe's classifier settings
that differ from the shared one's), to lay over the shared config for the five-fold run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
import yaml

from latentbalance.rebalance.methods import parse_method
from latentbalance.settings.recipes import classifier_settings

RULE = "highest mean holdout ACSA over the common folds; ties keep the earlier candidate"


def read_candidates(named: list[str]) -> pd.DataFrame:
    """The per-fold metrics of every candidate run, with a ``candidate`` column, in the given
    order."""
    frames = []
    for order, item in enumerate(named):
        name, _, folder = item.partition("=")
        if not folder:
            raise SystemExit(f"give each candidate as name=results/<dataset>, got {item!r}")
        path = Path(folder) / "summary" / "metrics_per_fold.csv"
        if not path.is_file():
            raise SystemExit(f"{path} does not exist: run that candidate's summary first")
        frame = pd.read_csv(path)
        frames.append(frame.assign(candidate=name, order=order))
    return pd.concat(frames, ignore_index=True)


def choose(per_fold: pd.DataFrame) -> pd.DataFrame:
    """One row per method: each candidate's mean holdout ACSA over the folds all of them ran,
    the chosen candidate by ``RULE``, and the chosen run's mean ACSA on each test set over those
    folds."""
    holdout = per_fold[per_fold["testset"] == "holdout"]
    if holdout.empty:
        raise SystemExit(
            "no holdout scores: add holdout to testsets (the choice reads no test set)"
        )
    rows = []
    for method, runs in holdout.groupby("method", sort=True):
        folds = set.intersection(*(set(g["fold"]) for _, g in runs.groupby("candidate")))
        common = runs[runs["fold"].isin(folds)]
        means = common.groupby(["order", "candidate"])["acsa"].mean()
        best = means.max()
        chosen = next(name for (_, name), value in means.items() if value == best)
        row = {"method": method, "folds": len(folds), "chosen": chosen}
        row |= {f"holdout {name}": value for (_, name), value in means.items()}
        scored = per_fold[(per_fold["method"] == method) & (per_fold["candidate"] == chosen)]
        scored = scored[scored["fold"].isin(folds)]  # the folds the choice was made on
        for testset, group in scored[scored["testset"] != "holdout"].groupby("testset"):
            row[f"{testset} (chosen)"] = group["acsa"].mean()
        rows.append(row)
    table = pd.DataFrame(rows)
    candidates = per_fold.drop_duplicates("candidate").sort_values("order")["candidate"]
    holdouts = [f"holdout {name}" for name in candidates if f"holdout {name}" in table]
    tests = sorted(c for c in table.columns if c.endswith("(chosen)"))
    return table[["method", "folds", "chosen", *holdouts, *tests]]


def _changed(shared: dict, chosen: dict) -> dict:
    """The settings of ``chosen`` that differ from ``shared``'s, nested blocks key by key."""
    changed = {}
    for key, value in chosen.items():
        if isinstance(value, dict) and isinstance(shared.get(key), dict):
            value = _changed(shared[key], value)
            if value:
                changed[key] = value
        elif shared.get(key) != value:
            changed[key] = value
    return changed


def by_method(table: pd.DataFrame, named: list[str]) -> tuple[dict, list[str]]:
    """The chosen recipes as ``classifier.by_method`` entries, and notes: a choice that changes
    no classifier setting, a head whose choice is not its backbone's (a head trains on its
    backbone's classifier, so it follows that one)."""
    folders = dict(item.partition("=")[::2] for item in named)
    blocks = {
        name: yaml.safe_load((Path(folder) / "summary" / "config.yaml").read_text())["classifier"]
        for name, folder in folders.items()
    }
    shared = next(iter(folders))
    choice = dict(zip(table["method"], table["chosen"], strict=True))
    recipes, notes = {}, []
    for method, name in choice.items():
        parsed = parse_method(method)
        if parsed.head:
            if choice.get(parsed.backbone, name) != name:
                notes.append(f"{method} chose {name}; it follows {parsed.backbone}'s choice")
            continue
        if name == shared:
            continue
        own = _changed(
            classifier_settings(blocks[shared], method), classifier_settings(blocks[name], method)
        )
        if own:
            recipes[method] = own
        else:
            notes.append(f"{method} chose {name}, which changes no classifier setting")
    return recipes, notes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("candidates", nargs="+", help="name=results/<dataset>, shared first")
    args = parser.parse_args()
    table = choose(read_candidates(args.candidates))
    print(f"Rule: {RULE}. ACSA in %.\n")
    scores = [c for c in table.columns if c not in ("method", "folds", "chosen")]
    table[scores] = (table[scores] * 100).round(2)
    print(table.to_markdown(index=False))
    recipes, notes = by_method(table, args.candidates)
    print("\nThe choices, to lay over the shared config:\n")
    print(yaml.safe_dump({"classifier": {"by_method": recipes}}, default_flow_style=None), end="")
    for note in notes:
        print(f"# {note}")


if __name__ == "__main__":
    main()
