"""Every configuration shipped in config/ (alone, or layered as its header says) passes the schema
and plans a complete run: a user who copies a command from the README gets a workflow, not an
error."""

import re

import pytest

from conftest import REPO, copy_workflow, snakemake

SHIPPED = [
    ("config.yaml",),
    ("grid-quick.yaml",),
    ("paper.yaml",),
    ("mvtec-bottle.yaml",),
    ("my-images.yaml",),
    ("fmnist-lt.yaml",),
    ("fmnist-lt.yaml", "fmnist-lt-2core.yaml"),
    ("fmnist-lt.yaml", "fmnist-lt-2core.yaml", "fmnist-lt-15epochs.yaml"),
    ("fmnist-lt.yaml", "fmnist-lt-2core.yaml", "fmnist-lt-15epochs.yaml", "fmnist-lt-cutmix.yaml"),
    ("fmnist-lt.yaml", "fmnist-lt-bf16.yaml"),
    ("fmnist-lt.yaml", "fmnist-lt-gpu.yaml"),
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


FMNIST_LT_2CORE = ["config/fmnist-lt.yaml", "config/fmnist-lt-2core.yaml"]
FMNIST_LT_CUTMIX = [
    *FMNIST_LT_2CORE,
    "config/fmnist-lt-15epochs.yaml",
    "config/fmnist-lt-cutmix.yaml",
]
FIVE = {"none", "weighted", "ros", "smote-ae", "smote-ae+penalty"}
# benchmarks/configs/ overlays, layered as benchmarks/RESULTS.md runs them: the shipped configs
# under them, the overlays, and which classifiers the stack trains (method, fold)
BENCHMARK_STACKS = [
    (FMNIST_LT_2CORE, ["fmnist-lt-penalty-0.1"], {("smote-ae+penalty", 0)}),
    (FMNIST_LT_CUTMIX, ["fmnist-lt-cutmix-40epochs"], {(m, 0) for m in FIVE}),
    (
        FMNIST_LT_CUTMIX,
        ["fmnist-lt-cutmix-40epochs", "fmnist-lt-two-folds"],
        {(m, f) for m in FIVE - {"smote-ae+penalty"} for f in (0, 1)},
    ),
    (
        FMNIST_LT_CUTMIX,
        ["fmnist-lt-cutmix-40epochs", "fmnist-lt-full-balance"],
        {("ros", 0), ("smote-ae", 0)},
    ),
    (
        FMNIST_LT_CUTMIX,
        ["fmnist-lt-cutmix-40epochs", "fmnist-lt-two-folds", "fmnist-lt-full-balance"],
        {(m, f) for m in ("ros", "smote-ae") for f in (0, 1)},
    ),
    (
        FMNIST_LT_CUTMIX,
        ["fmnist-lt-cutmix-40epochs", "fmnist-lt-full-balance", "fmnist-lt-deepsmote-ae"],
        {("smote-ae", 0)},
    ),
]


def test_every_benchmark_overlay_is_listed_here():
    listed = {name for _, overlays, _ in BENCHMARK_STACKS for name in overlays}
    assert listed == {path.stem for path in (REPO / "benchmarks" / "configs").glob("*.yaml")}


@pytest.mark.parametrize(
    "shipped, overlays, classifiers",
    BENCHMARK_STACKS,
    ids=["+".join(overlays) for _, overlays, _ in BENCHMARK_STACKS],
)
def test_benchmark_overlay_plans_the_classifiers_it_says(tmp_path, shipped, overlays, classifiers):
    workdir = copy_workflow(tmp_path)
    configs = [str(workdir / name) for name in shipped]
    configs += [str(REPO / "benchmarks" / "configs" / f"{name}.yaml") for name in overlays]
    result = snakemake(workdir, "--dry-run", "--configfile", *configs)
    planned = re.findall(r"fold(\d+)/classifier/([^/\s]+)/resnet18/model\.pt", result.stdout)
    assert {(method, int(fold)) for fold, method in planned} == classifiers
