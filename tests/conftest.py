import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import yaml
from filelock import FileLock

REPO = Path(__file__).resolve().parents[1]

if "PYTEST_XDIST_WORKER" in os.environ:
    # Several workers share the cores: one torch thread each, or OpenMP threads oversubscribe
    # the cores and spin. Snakemake jobs set their own threads from the rules.
    import torch

    torch.set_num_threads(1)

SLURM_SCRIPTS = REPO / "tests" / "slurm"


SLURM_CONF = Path("/etc/slurm/slurm.conf")


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controlling process; workers inherit this
        os.environ.setdefault("LATENTBALANCE_TEST_STATE", tempfile.mkdtemp(prefix="lb-tests-"))
        restart_our_stopped_slurm()


def slurm_started_marker() -> Path:
    return Path(os.environ["LATENTBALANCE_TEST_STATE"]) / "slurm-started"


def run_slurm_script(name: str, timeout: int) -> tuple[subprocess.CompletedProcess, float]:
    """Run tests/slurm/<name>: its result and the seconds it took."""
    began = time.monotonic()
    result = subprocess.run(
        ["bash", str(SLURM_SCRIPTS / name)], capture_output=True, text=True, timeout=timeout
    )
    return result, time.monotonic() - began


def slurmctld_running() -> bool:
    """By its pid file, as start-local-slurm.sh and stop-local-slurm.sh track it."""
    try:
        pid = Path("/run/slurmctld.pid").read_text().strip()
        return Path(f"/proc/{pid}/comm").read_text().strip() == "slurmctld"
    except (OSError, ValueError):
        return False


def restart_our_stopped_slurm():
    """Start the test cluster again if an earlier test session left it configured but stopped.

    In that state every snakemake command of the suite (about 70) waits ~9 s at start-up: the SLURM
    plugin's import runs `scontrol show config`, which retries until its MessageTimeout when no
    controller answers (stop-local-slurm.sh now sets MessageTimeout=1 in a stopped cluster's
    config; one stopped by an older version lacks it). Starting the cluster takes ~3 s once
    installed; pytest_sessionfinish stops it again. Best effort: a failure here is left for
    test_slurm.py to report."""
    if os.geteuid() != 0 or not SLURM_CONF.exists() or slurmctld_running():
        return
    if "start-local-slurm.sh" not in SLURM_CONF.read_text().partition("\n")[0]:
        return  # somebody else's SLURM: not ours to start
    slurm_started_marker().touch()
    result, seconds = run_slurm_script("start-local-slurm.sh", timeout=300)
    state = "ready" if result.returncode == 0 else f"failed ({result.returncode})"
    print(f"restarted the local SLURM left by an earlier session: {state}, {seconds:.1f} s")


def pytest_sessionfinish(session):
    """Stop the local SLURM that test_slurm.py started, once all test workers are done."""
    if hasattr(session.config, "workerinput") or not slurm_started_marker().exists():
        return
    result, seconds = run_slurm_script("stop-local-slurm.sh", timeout=300)
    print("\n" + result.stdout + result.stderr)
    print(f"TIMING stop-local-slurm.sh: {seconds:.1f} s")
    slurm_started_marker().unlink()


# A tiny run: scikit-learn digits (8x8), 2 folds, one epoch or two. Minutes on 2 cores.
TINY_CONFIG = {
    "seed": 7,
    "datasets": {
        "digits": {
            "source": "digits",
            "test_fraction": 0.2,
            "imbalance": {"ratio": 10, "max_per_class": 60},
        }
    },
    "folds": 2,
    "methods": ["none", "smote-ae"],
    "classifiers": ["resnet18"],
    "testsets": ["test", "test_imbalanced", "holdout"],
    "autoencoder": {"epochs": 2, "batch_size": 32, "latent_dim": 16},
    "classifier": {"stem": "small", "epochs": 3, "batch_size": 32, "patience": 5},
    "compute": {"threads": 1},
}


def copy_workflow(destination: Path) -> Path:
    """A fresh copy of the workflow (Snakefile, rules, scripts, schema, profile, config)."""
    shutil.copy(REPO / "Snakefile", destination / "Snakefile")
    shutil.copytree(
        REPO / "workflow",
        destination / "workflow",
        ignore=shutil.ignore_patterns("__pycache__", "latentbalance"),
    )
    shutil.copytree(REPO / "config", destination / "config")
    shutil.copytree(REPO / "envs", destination / "envs")
    shutil.copytree(REPO / "profiles", destination / "profiles")
    return destination


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def snakemake(workdir: Path, *args: str, check: bool = True, timeout: int = 900):
    """Run the real snakemake command line in ``workdir``."""
    command = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-4000:]}\n"
            f"{result.stderr[-6000:]}"
        )
    return result


def latentbalance(*args, cwd):
    """The real command line (``python -m latentbalance`` = the ``latentbalance`` script)."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "workflow")}
    return subprocess.run(
        [sys.executable, "-m", "latentbalance", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def planned_jobs(dry_run_output: str) -> dict[str, int]:
    """The job-count table of a dry run: rule -> count."""
    counts, in_table = {}, False
    for line in dry_run_output.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table:
            if not parts or parts[0].startswith("-"):
                continue
            if parts[0] == "total":
                break
            counts[parts[0]] = int(parts[1])
    return counts


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, worker_id):
    """The tiny workflow, run once per test session for every test that inspects its results.

    Under pytest-xdist the workers share one run: the first to get here runs it, the others wait
    for it. Returns (workdir, config path, snakemake's output). Tests must not change its results.
    """
    shared = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        shared = shared.parent  # this session's folder, common to its workers
    workdir, finished = shared / "tiny", shared / "tiny.finished"
    with FileLock(shared / "tiny.lock"):
        if not finished.exists():
            shutil.rmtree(workdir, ignore_errors=True)
            workdir.mkdir()
            copy_workflow(workdir)
            config = write_config(workdir / "tiny.yaml", TINY_CONFIG)
            result = snakemake(workdir, "--configfile", str(config))
            finished.write_text(result.stdout + result.stderr)
    return workdir, workdir / "tiny.yaml", finished.read_text()
