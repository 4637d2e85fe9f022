"""pytest hooks and fixtures; the builders the tests share are in helpers.py."""

import os
import shutil
import tempfile

import pytest
from filelock import FileLock

from helpers import (
    TINY_CONFIG,
    copy_workflow,
    restart_our_stopped_slurm,
    run_slurm_script,
    slurm_started_marker,
    snakemake,
    write_config,
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
