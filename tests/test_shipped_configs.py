"""Every configuration shipped in config/ (alone, or layered as its header says) passes the schema
and plans a complete run: a user who copies a command from the README gets a workflow, not an
error."""

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
