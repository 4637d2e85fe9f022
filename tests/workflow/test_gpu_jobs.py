"""Every job that runs a network reserves the device it computes on (a dry run's resources);
locally one such job runs per visible card at a time; `compute.device: auto` on the CPU is said."""

import re

import pytest
import torch

from latentbalance.io import read_json
from latentbalance.training.environment import cpu_fallbacks

from helpers import TINY_CONFIG, copy_workflow, snakemake, write_config

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
    # on one CPU thread ResNet152 needs ~50 min for the ~40k images SVHN's evaluation classifies
    # (test set and holdout; the imbalanced test set reads its rows of the test set's): twice that
    runtimes = {
        (w["dataset"], w["arch"]): int(r["runtime"]) for rule, w, r in jobs if rule == "evaluate"
    }
    assert runtimes[("svhn", "resnet152")] >= 100
    assert runtimes[("svhn", "resnet18")] < runtimes[("svhn", "resnet152")]

    cpu = write_config(workdir / "cpu.yaml", {"compute": {"device": "cpu"}})
    output = snakemake(workdir, "--configfile", "config/paper.yaml", str(cpu), "--dry-run").stdout
    assert {r.get("gpu", "0") for _, _, r in planned_resources(output)} == {"0"}


CAP = "GPU jobs: one per visible card at a time"


def said(workdir, *args) -> str:
    """What a snakemake command line prints, both streams."""
    result = snakemake(workdir, *args)
    return result.stdout + result.stderr


def provided_gpus(output: str) -> int | None:
    """The ``gpu`` resource Snakemake schedules with, from its "Provided resources" line."""
    line = re.search(r"^Provided resources: (.*)$", output, re.M)
    found = line and re.search(r"\bgpu=\D*(\d+)", line.group(1))
    return int(found.group(1)) if found else None


def test_locally_one_gpu_job_runs_per_visible_card_unless_the_user_says(tmp_path, monkeypatch):
    workdir = copy_workflow(tmp_path)
    tiny = str(write_config(workdir / "tiny.yaml", TINY_CONFIG))
    # the first job only (seconds), run anew each time: Snakemake states its resources first
    first_job = ["results/digits/data/images.npy", "--forcerun", "download", "--configfile", tiny]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    output = said(workdir, *first_job)
    assert provided_gpus(output) == 2
    assert f"{CAP} (2); --resources gpu=N runs N" in output
    output = said(workdir, *first_job, "--resources", "gpu=3")
    assert provided_gpus(output) == 3 and CAP not in output

    cpu = str(write_config(workdir / "cpu.yaml", {"compute": {"device": "cpu"}}))
    assert CAP not in said(workdir, "--configfile", tiny, cpu, "--dry-run")  # no job asks a GPU
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # no card: nothing to share
    assert CAP not in said(workdir, "--configfile", tiny, "--dry-run")
    # on SLURM the cards are the cluster's, not the submit host's: the profile sets the cap
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    slurm = ["--workflow-profile", "profiles/slurm", "--configfile", tiny, "--dry-run"]
    account = ["--default-resources", "slurm_account=a", "slurm_partition=p"]
    assert CAP not in said(workdir, *slurm, *account)


@pytest.mark.skipif(torch.cuda.is_available(), reason="auto computes on this machine's GPU")
def test_auto_on_the_cpu_is_said_once_at_the_end_and_in_the_summary(tiny_run):
    """compute.device defaults to auto: here no GPU, so every network ran on the CPU."""
    workdir, _, output = tiny_run
    said = re.findall(r"^compute.device 'auto' ran the networks on the CPU: (.+)$", output, re.M)
    assert len(said) == 1
    assert f"torch {torch.__version__}" in said[0]
    summary = read_json(workdir / "results/digits/summary/environment.json")
    assert cpu_fallbacks(summary) == {said[0]}
