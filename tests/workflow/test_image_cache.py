"""The image cache that jobs map instead of load: a job's memory does not grow with the cache,
and an interrupted download leaves nothing that Snakemake or a job would take as a cache."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from latentbalance.data.image_dataset import ImageDataset, save_labels

from helpers import copy_workflow, snakemake, write_config, write_pictures

pytestmark = pytest.mark.workflow

SIDE = 128  # 3x128x128 uint8: 48 KiB an image
# one fold of 18 training images, scored on its holdout: the jobs' rows are the same few whatever
# the cache's size (the independent test set, 1 % of the cache, is drawn but not scored)
CONFIG = {
    "seed": 7,
    "datasets": {
        "big": {
            "source": "folder",
            "root": "photos",
            "test_fraction": 0.01,
            "imbalance": {"counts": [12, 6]},
        }
    },
    "folds": 2,
    "run_folds": [0],
    "methods": ["none"],
    "architectures": ["resnet18"],
    "testsets": ["holdout"],
    "classifier": {"stem": "small", "epochs": 1, "batch_size": 8, "patience": 5},
    "compute": {"threads": 1, "device": "cpu"},
}
JOBS = {
    "split": "results/big/split/folds.npz",
    "train_classifier": "results/big/fold0/classifier/none/resnet18/model.pt",
    "evaluate": "results/big/fold0/eval/none/resnet18/holdout/metrics.json",
}


def write_cache(workdir, rows: int) -> int:
    """A cache of ``rows`` random RGB images as download leaves it (written with open_memmap
    a slice at a time); returns its size in bytes."""
    data = workdir / "results" / "big" / "data"
    data.mkdir(parents=True)
    path = data / "images.npy"
    images = np.lib.format.open_memmap(path, "w+", np.uint8, (rows, 3, SIDE, SIDE))
    rng = np.random.default_rng(0)
    for start in range(0, rows, 500):
        end = min(start + 500, rows)
        images[start:end] = rng.integers(0, 256, (end - start, 3, SIDE, SIDE), dtype=np.uint8)
    images.flush()
    del images
    save_labels(path, np.arange(rows) % 2, ["a", "b"])
    (data / "skipped_images.csv").write_text("file,reason\n")
    return path.stat().st_size


# the largest resident memory of the command and every process it waited for (Snakemake's jobs)
PEAK = (
    "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(code)"
)


def peak_rss_mb(workdir, config, target: str) -> float:
    command = [sys.executable, "-m", "snakemake", target, "--cores", "2"]
    run = subprocess.run(
        [sys.executable, "-c", PEAK, *command, "--configfile", str(config)],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return int(run.stdout.strip().splitlines()[-1]) / 1024


def peaks(tmp_path, name: str, rows: int) -> tuple[dict, int]:
    (tmp_path / name).mkdir()
    workdir = copy_workflow(tmp_path / name)
    write_pictures(workdir / "photos" / "a", 2)
    write_pictures(workdir / "photos" / "b", 2)
    size = write_cache(workdir, rows)
    config = write_config(workdir / "big.yaml", CONFIG)
    return {job: peak_rss_mb(workdir, config, target) for job, target in JOBS.items()}, size


def test_jobs_memory_map_the_cache_and_do_not_grow_with_it(tmp_path):
    """The same jobs, on the same few rows, of a cache of 200 images and of one of 8,000
    (375 MB): a job that loaded the cache would hold 365 MB more; these hold under 100 MB
    more, whatever the job."""
    small, _ = peaks(tmp_path, "small", 200)
    large, size = peaks(tmp_path, "large", 8000)
    assert size > 350 * 2**20
    grown = {job: large[job] - small[job] for job in JOBS}
    assert all(growth < 100 for growth in grown.values()), (grown, small, large)


def test_interrupted_download_leaves_no_cache_and_the_rerun_completes(tmp_path):
    workdir = copy_workflow(tmp_path)
    # enough images that decoding outlasts the wait below on the fastest CPU we meet
    for name, count in (("a", 4000), ("b", 4000)):
        write_pictures(workdir / "photos" / name, count, size=(64, 64))
    config = write_config(workdir / "big.yaml", CONFIG)
    data = workdir / "results" / "big" / "data"
    target = "results/big/data/images.npy"
    for sig in (signal.SIGINT, signal.SIGKILL):  # Ctrl-C; then a node failure
        process = subprocess.Popen(
            [sys.executable, "-m", "snakemake", target, "--cores", "1"]
            + ["--configfile", str(config)],
            cwd=workdir,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 300
        while not (data.is_dir() and list(data.glob(".images.npy.decoding*"))):
            assert process.poll() is None, "the download ended before it was interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(0.1)  # mid-way through the files
        os.killpg(process.pid, sig)
        process.wait(timeout=120)
        assert not (data / "images.npy").exists()
        assert not (data / "images.labels.npz").exists()
        if sig == signal.SIGINT:  # unwound: nothing half-written is left
            assert not list(data.glob(".*")), list(data.glob(".*"))
    # a killed Snakemake leaves its lock, which the user removes
    snakemake(workdir, target, "--unlock", "--configfile", str(config))
    planned = snakemake(workdir, target, "-n", "--rerun-incomplete", "--configfile", str(config))
    assert "download" in planned.stdout
    snakemake(workdir, target, "--rerun-incomplete", "--configfile", str(config))
    assert not list(data.glob(".*")), "the killed download's half-written file is removed"
    cache = ImageDataset.load(data / "images.npy")
    assert isinstance(cache.images, np.memmap) and cache.images.shape[0] == 8000
    assert np.bincount(cache.labels).tolist() == [4000, 4000]
