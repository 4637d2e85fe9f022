"""Every configuration shipped in config/ (alone, or layered as its header says) passes the schema
and plans a complete run: a user who copies a command from the README gets a workflow, not an
error."""

import re
from pathlib import Path

import pytest

from helpers import REPO, copy_workflow, snakemake

SHIPPED = [
    ("config.yaml",),
    ("grid-quick.yaml",),
    ("paper.yaml",),
    ("mvtec-bottle.yaml",),
    ("my-images.yaml",),
    ("fmnist-lt.yaml",),
    ("fmnist-lt.yaml", "fmnist-lt-gpu.yaml"),
    ("fmnist-lt-small.yaml",),
]


def test_every_shipped_config_is_listed_here():
    listed = {name for files in SHIPPED for name in files}
    assert listed == {path.name for path in (REPO / "config").glob("*.yaml")}


@pytest.mark.parametrize("files", SHIPPED, ids=["+".join(files) for files in SHIPPED])
def test_shipped_config_plans_a_run(tmp_path, files):
    workdir = copy_workflow(tmp_path)
    configs = [str(workdir / "config" / name) for name in files]
    # paper.yaml's five datasets are 7,700 jobs (a minute of DAG building): plan one of them
    target = ["results/mvtec_bottle/summary/metrics_per_fold.csv"] if "paper.yaml" in files else []
    result = snakemake(workdir, *target, "--dry-run", "--configfile", *configs)
    plan = result.stdout + result.stderr
    assert "train_classifier" in plan and "summarize" in plan


FMNIST_LT = ["config/fmnist-lt.yaml"]
FOUR = {"none", "weighted", "ros", "smote-ae"}
FOLDS = range(5)
OVERSAMPLED = {"ros", "smote-ae", "ros@crt", "smote-ae@eos"}
RIVALS = {
    "none",
    "weighted",
    "la-loss",
    "ldam-drw",
    "mixup-drw",
    "remix-drw",
    "none@crt",
    "none@smote-feat",
    "none@eos",
    *OVERSAMPLED,
}
SMALL = {
    "none", "weighted", "ros", "smote-pixel", "smote-ae", "smote-ae+penalty", "smote-vae",
    "la-loss", "ldam-drw", "mixup-drw", "remix-drw", "none@crt", "none@eos", "smote-ae@eos",
}  # fmt: skip
# config/fmnist-lt.yaml alone, with its GPU overlay, and under every benchmarks/configs/ overlay,
# layered as benchmarks/RESULTS.md runs them: the shipped configs, the overlays, and which
# classifiers the stack trains (method, fold)
BENCHMARK_STACKS = [
    (FMNIST_LT, [], {(m, 0) for m in FOUR}),
    ([*FMNIST_LT, "config/fmnist-lt-gpu.yaml"], [], {(m, f) for m in FOUR for f in FOLDS}),
    (FMNIST_LT, ["fmnist-lt-five-folds"], {(m, f) for m in FOUR for f in FOLDS}),
    (FMNIST_LT, ["fmnist-lt-penalty"], {("smote-ae+penalty", 0)}),
    (
        FMNIST_LT,
        ["fmnist-lt-penalty", "fmnist-lt-five-folds"],
        {("smote-ae+penalty", f) for f in FOLDS},
    ),
    (FMNIST_LT, ["fmnist-lt-deepsmote-ae"], {("smote-ae", 0)}),
    (FMNIST_LT, ["fmnist-lt-rivals"], {(m, 0) for m in RIVALS}),
    (
        FMNIST_LT,
        ["fmnist-lt-rivals", "fmnist-lt-five-folds"],
        {(m, f) for m in RIVALS for f in FOLDS},
    ),
    (FMNIST_LT, ["fmnist-lt-rivals-oversampled"], {(m, 0) for m in OVERSAMPLED}),
    (
        FMNIST_LT,
        ["fmnist-lt-rivals", "fmnist-lt-rivals-oversampled"],
        {(m, 0) for m in OVERSAMPLED},
    ),
    # the recipe screen's alternatives change the recipe, not what is trained, except that the
    # synthetic share runs only the methods it changes
    (FMNIST_LT, ["fmnist-lt-screen-no-cutmix"], {(m, 0) for m in FOUR}),
    (
        FMNIST_LT,
        ["fmnist-lt-rivals-oversampled", "fmnist-lt-screen-share-half"],
        {("smote-ae", 0), ("smote-ae@eos", 0)},
    ),
    (FMNIST_LT, ["fmnist-lt-screen-epochs-20"], {(m, 0) for m in FOUR}),
    (FMNIST_LT, ["fmnist-lt-screen-target-2000"], {(m, 0) for m in FOUR}),
    # both datasets' none: the ceiling's and fmnist_lt's (the README names the ceiling's target)
    (FMNIST_LT, ["fmnist-lt-ceiling"], {("none", 0)}),
    # the small long tail: every method on five folds; its ceiling overlay trains none alone
    (["config/fmnist-lt-small.yaml"], [], {(m, f) for m in SMALL for f in FOLDS}),
    (["config/fmnist-lt-small.yaml"], ["fmnist-lt-small-ceiling"], {("none", f) for f in FOLDS}),
    # the equal tuning budget's candidate recipes: every method, on the fold that chooses
    *(
        (
            ["config/fmnist-lt-small.yaml"],
            [f"fmnist-lt-small-recipe-{name}"],
            {(m, 0) for m in SMALL},
        )
        for name in ("half", "double", "batch64")
    ),
]


def test_every_benchmark_overlay_is_listed_here():
    listed = {name for _, overlays, _ in BENCHMARK_STACKS for name in overlays}
    assert listed == {path.stem for path in (REPO / "benchmarks" / "configs").glob("*.yaml")}


@pytest.mark.parametrize(
    "shipped, overlays, classifiers",
    BENCHMARK_STACKS,
    ids=[
        "+".join([Path(name).stem for name in shipped] + overlays)
        for shipped, overlays, _ in BENCHMARK_STACKS
    ],
)
def test_benchmark_overlay_plans_the_classifiers_it_says(tmp_path, shipped, overlays, classifiers):
    workdir = copy_workflow(tmp_path)
    configs = [str(workdir / name) for name in shipped]
    configs += [str(REPO / "benchmarks" / "configs" / f"{name}.yaml") for name in overlays]
    result = snakemake(workdir, "--dry-run", "--configfile", *configs)
    planned = re.findall(r"fold(\d+)/classifier/([^/\s]+)/resnet18/model\.pt", result.stdout)
    assert {(method, int(fold)) for fold, method in planned} == classifiers
