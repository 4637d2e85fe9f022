"""Every job that runs a network reserves the device it computes on: a dry run's resources."""

import re

import pytest

from helpers import copy_workflow, snakemake, write_config

pytestmark = pytest.mark.workflow


def planned_resources(dry_run_output: str) -> list[tuple[str, dict, dict]]:
    """(rule, wildcards, resources) of every job a dry run lists."""
    jobs = []
    for block in re.split(r"\n(?=\[.*\]\nrule )", dry_run_output):
        rule = re.search(r"^rule (\w+):", block, re.M)
        resources = re.search(r"^\s+resources: (.*)$", block, re.M)
        if not rule or not resources:
            continue
        wildcards = re.search(r"^\s+wildcards: (.*)$", block, re.M)
        pairs = [
            dict(p.split("=", 1) for p in line.group(1).split(", ")) if line else {}
            for line in (wildcards, resources)
        ]
        jobs.append((rule.group(1), *pairs))
    return jobs


def test_network_jobs_ask_for_the_gpu_and_evaluate_has_time_for_resnet152_on_a_cpu(tmp_path):
    workdir = copy_workflow(tmp_path)
    output = snakemake(workdir, "--configfile", "config/paper.yaml", "--dry-run").stdout
    jobs = planned_resources(output)
    gpus = {}
    for rule, wildcards, resources in jobs:
        kind = rule
        if rule == "oversample":
            # smote-vae+penalty runs the autoencoder; ros and smote-pixel run no network
            latent = re.search(r"-(ae|vae|wae)\b", wildcards["method"])
            kind += "-latent" if latent else "-pixel"
        gpus.setdefault(kind, set()).add(resources.get("gpu", "0"))
    # locally counted by --resources gpu=N, under SLURM a --gpus=1 that makes the card visible
    for kind in ["train_autoencoder", "train_classifier", "evaluate", "oversample-latent"]:
        assert gpus[kind] == {"1"}, kind
    assert gpus["oversample-pixel"] == {"0"}
    assert gpus["split"] == {"0"} and gpus["summarize"] == {"0"}
    # on one CPU thread ResNet152 needs more than an hour for SVHN's ~60k test-set images
    runtimes = {
        (w["dataset"], w["arch"]): int(r["runtime"]) for rule, w, r in jobs if rule == "evaluate"
    }
    assert runtimes[("svhn", "resnet152")] >= 120
    assert runtimes[("svhn", "resnet18")] < runtimes[("svhn", "resnet152")]

    cpu = write_config(workdir / "cpu.yaml", {"compute": {"device": "cpu"}})
    output = snakemake(workdir, "--configfile", "config/paper.yaml", str(cpu), "--dry-run").stdout
    assert {r.get("gpu", "0") for _, _, r in planned_resources(output)} == {"0"}
