"""pytest hooks and fixtures; the builders the tests share are in helpers.py."""

import os
import tempfile

import pytest

from helpers import (
    RIVALS,
    TINY_CONFIG,
    restart_our_stopped_slurm,
    run_once_per_session,
    run_slurm_script,
    slurm_started_marker,
)

if "PYTEST_XDIST_WORKER" in os.environ:
    # Several workers share the cores: one torch thread each, or OpenMP threads oversubscribe
    # the cores and spin. Snakemake jobs set their own threads from the rules.
    import torch

    torch.set_num_threads(1)


def pytest_configure(config):
    if not hasattr(config, "workerinput"):  # the controlling process; workers inherit this
        os.environ.setdefault("LATENTBALANCE_TEST_STATE", tempfile.mkdtemp(prefix="lb-tests-"))
        restart_our_stopped_slurm()


def pytest_sessionfinish(session):
    """Stop the local SLURM that test_slurm.py started, once all test workers are done."""
    if hasattr(session.config, "workerinput") or not slurm_started_marker().exists():
        return
    result, seconds = run_slurm_script("stop-local-slurm.sh", timeout=300)
    print("\n" + result.stdout + result.stderr)
    print(f"TIMING stop-local-slurm.sh: {seconds:.1f} s")
    slurm_started_marker().unlink()


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, worker_id):
    """The tiny workflow, run once per test session (all workers together) for every test that
    inspects its results: (workdir, config path, snakemake's output)."""
    return run_once_per_session(tmp_path_factory, worker_id, "tiny", TINY_CONFIG)


@pytest.fixture(scope="session")
def rivals_run(tmp_path_factory, worker_id):
    """The rivals' tiny run (helpers.RIVALS), once per test session: its workdir."""
    return run_once_per_session(tmp_path_factory, worker_id, "rivals", RIVALS)[0]
