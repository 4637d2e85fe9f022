"""The tiny workflow through a real single-node SLURM cluster (snakemake-executor-plugin-slurm).

Only the latent method runs through SLURM (every rule of the DAG, 10 jobs) to keep the test short;
its metrics must equal, byte for byte, those of the same jobs in the local `tiny_run`.

Needs root and apt-get: tests/slurm/start-local-slurm.sh installs and starts SLURM on this machine
(Debian 12, no systemd); conftest.py stops it when the test session ends, unless it was already up
before the tests. Run with `pytest -s -m slurm` to see the timings.
"""

import datetime
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import (
    TINY_CONFIG,
    copy_workflow,
    planned_jobs,
    run_slurm_script,
    slurm_started_marker,
    snakemake,
    write_config,
)

pytestmark = pytest.mark.slurm

ACCOUNT, PARTITION = "test", "debug"  # what start-local-slurm.sh creates
FIELDS = "JobIdRaw,JobName,Comment,State"
# every rule once per fold, but only one method and test set (each job's results do not depend on
# which other methods run, so they must equal the local run's)
SLURM_CONFIG = {**TINY_CONFIG, "methods": ["smote-ae"], "testsets": ["test"]}


def _skip(reason: str):
    print(f"\nSKIP test_slurm: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def slurm_prerequisites():
    """Skip early: requested before `tiny_run`, so a skipped test does not wait for that run."""
    if os.geteuid() != 0:
        _skip("needs root: start-local-slurm.sh installs packages and starts system daemons")
    if shutil.which("apt-get") is None:
        _skip("needs apt-get (Debian/Ubuntu) to install SLURM")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        _skip("snakemake-executor-plugin-slurm is not installed (pip install -e '.[test]')")


def _controller_answers() -> bool:
    if shutil.which("scontrol") is None:
        return False
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, timeout=60)
    return ping.returncode == 0


@pytest.fixture(scope="session")
def local_slurm(slurm_prerequisites):
    """A running single-node SLURM cluster with accounting.

    Started when this test runs (or at session start by conftest.py, if an earlier session left
    it stopped): with the SLURM plugin installed, every snakemake command runs
    `scontrol show config`, which retries for about 10 s when no controller answers. For the same
    reason it is stopped only when the whole test session ends (conftest.py's
    pytest_sessionfinish), not when this worker ends while another one still runs Snakemake. A
    cluster that was already up before the tests is left up, as it was found."""
    if not _controller_answers():
        # Marked before starting, so that a half-started cluster is stopped as well.
        slurm_started_marker().touch()
    # apt-get may wait up to 300 s for another apt's lock
    result, seconds = run_slurm_script("start-local-slurm.sh", timeout=900)
    print("\n" + result.stdout + result.stderr)
    assert result.returncode == 0, f"start-local-slurm.sh failed:\n{result.stdout}\n{result.stderr}"
    print(f"TIMING start-local-slurm.sh: {seconds:.1f} s")


def _sacct(since: str, run_id: str) -> list[list[str]]:
    """(job id, comment, state) of the run's jobs; the job name of every job is the run id."""
    result = subprocess.run(
        ["sacct", "-X", "-n", "--parsable2", "-S", since, "--name", run_id, "--format=" + FIELDS],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line.split("|") for line in result.stdout.splitlines() if line.strip()]


def test_tiny_workflow_through_slurm_matches_the_local_run(
    slurm_prerequisites, tiny_run, local_slurm, tmp_path
):
    test_began = time.monotonic()
    local_workdir, _, _ = tiny_run
    workdir = copy_workflow(tmp_path)
    write_config(workdir / "tiny.yaml", SLURM_CONFIG)

    # Every job goes to SLURM but the local rules: `all` (no action), `download` (needs the
    # internet, which compute nodes often lack) and `summarize` (seconds).
    planned = planned_jobs(snakemake(workdir, "--configfile", "tiny.yaml", "--dry-run").stdout)
    local_rules = {"all", "download", "summarize"}
    expected = {rule: count for rule, count in planned.items() if rule not in local_rules}
    assert local_rules <= set(planned) and sum(expected.values()) == 10, planned

    # sacct's -S has whole seconds: a second's margin; the run id (job name) keeps other jobs out.
    since = (datetime.datetime.now() - datetime.timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    command = [
        "timeout", "-k", "20", "900",  # snakemake can ignore a bare SIGTERM
        sys.executable, "-m", "snakemake",
        "--workflow-profile", "profiles/slurm",
        "--executor", "slurm",
        "--jobs", "4",
        "--slurm-init-seconds-before-status-checks", "1",
        # A command-line --default-resources replaces the profile's whole block: repeat all of it.
        "--default-resources", f"slurm_account={ACCOUNT}", f"slurm_partition={PARTITION}",
        "mem_mb=2000", "runtime=30",
        # The test cluster has no GPU: a --gpus=1 job would stay pending for ever.
        "--set-resources", "train_autoencoder:gpu=0", "train_classifier:gpu=0",
        "oversample:gpu=0", "evaluate:gpu=0",
        "--configfile", "tiny.yaml",
    ]  # fmt: skip
    began = time.monotonic()
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=960)
    run_seconds = time.monotonic() - began
    log = result.stdout + result.stderr
    print(f"TIMING SLURM workflow run ({sum(expected.values())} SLURM jobs): {run_seconds:.1f} s")
    assert result.returncode == 0, f"snakemake failed ({result.returncode}):\n{log[-8000:]}"

    run_ids = [line.split("SLURM run ID:")[1].split()[0] for line in log.splitlines()
               if "SLURM run ID:" in line]  # fmt: skip
    assert len(run_ids) == 1, "no 'SLURM run ID' in snakemake's log"

    # sacct sees a finished job a moment after squeue does: wait for all of them.
    deadline = time.monotonic() + 60
    while True:
        jobs = _sacct(since, run_ids[0])
        if len(jobs) >= sum(expected.values()) or time.monotonic() > deadline:
            break
        time.sleep(2)
    print("sacct:\n" + "\n".join("|".join(job) for job in jobs))
    not_completed = [job for job in jobs if job[3] != "COMPLETED"]
    assert not not_completed, f"jobs not COMPLETED in sacct: {not_completed}"
    # the plugin's --comment is rule_<rule>[_wildcards_<wildcards>]
    per_rule: dict[str, int] = {}
    for _, _, comment, _ in jobs:
        rule = comment.removeprefix("rule_").split("_wildcards_")[0]
        per_rule[rule] = per_rule.get(rule, 0) + 1
    assert per_rule == expected

    for fold in range(SLURM_CONFIG["folds"]):
        metrics = Path("results", "digits", f"fold{fold}", "eval", "smote-ae", "resnet18", "test")
        for name in ("metrics.json", "predictions.csv"):
            assert (workdir / metrics / name).read_bytes() == (
                local_workdir / metrics / name
            ).read_bytes(), f"{metrics / name} differs between the SLURM and the local run"
    print(f"TIMING test body (dry run, SLURM run, checks): {time.monotonic() - test_began:.1f} s")
