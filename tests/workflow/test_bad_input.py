"""Bad input stops with one message that names the key or file and the fix, a non-zero exit, and
no output that Snakemake would take as complete. (Bad image folders, without Snakemake:
tests/unit/test_prepare.py.)"""

import subprocess

import pytest
import torch

from helpers import (
    TINY_CONFIG,
    copy_workflow,
    snakemake,
    without_internet,
    write_config,
    write_pictures,
)

pytestmark = pytest.mark.workflow


def with_change(**changes):
    config = {**TINY_CONFIG, **changes}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(TINY_CONFIG.get(key), dict):
            config[key] = {**TINY_CONFIG[key], **value}
    return config


DIGITS = TINY_CONFIG["datasets"]["digits"]

# config errors: found before any job runs (dry run), naming the key
CONFIG_ERRORS = {
    "unknown dataset source": (
        {"datasets": {"digits": {**DIGITS, "source": "imagenet"}}},
        ["imagenet", "source"],
    ),
    "unknown method": ({"methods": ["none", "smote-gan"]}, ["smote-gan", "smote-ae"]),
    "unknown architecture": ({"architectures": ["vgg16"]}, ["vgg16", "resnet18"]),
    "the old name of architectures": (
        {"classifiers": ["resnet18"]},
        ["'classifiers' is no longer read", "'architectures'"],
    ),
    "a per-network validation share of an older config": (
        {"classifier": {"val_fraction": 0.2}},
        ["'classifier.val_fraction' is no longer read", "'validation_fraction'"],
    ),
    "misspelt top-level key": ({"classifer": {"epochs": 2}}, ["classifer"]),
    "misspelt nested key": ({"autoencoder": {"epoch": 3}}, ["epoch"]),
    "wrong type": ({"folds": "five"}, ["five", "folds"]),
    "negative epochs": ({"classifier": {"epochs": -1}}, ["epochs", "-1"]),
    "zero epochs": ({"autoencoder": {"epochs": 0}}, ["epochs", "0"]),
    "fold beyond folds": ({"run_folds": [0, 2]}, ["run_folds", "folds"]),
    "unknown test set": ({"testsets": ["test", "validation"]}, ["validation", "testsets"]),
    "dataset name with a space": ({"datasets": {"my digits": DIGITS}}, ["my digits"]),
    "per-fold counts without counts": (
        {
            "datasets": {
                "digits": {
                    **DIGITS,
                    "imbalance": {"ratio": 10, "max_per_class": 60, "counts_are": "fold_training"},
                }
            }
        },
        ["counts_are", "explicit 'counts'"],
    ),
    "ratio below one": (
        {"datasets": {"digits": {**DIGITS, "imbalance": {"ratio": 0.5, "max_per_class": 60}}}},
        ["0.5", "ratio"],
    ),
    "image size on a set that is not files": (
        {"datasets": {"digits": {**DIGITS, "image_size": 64}}},
        ["'datasets.digits.image_size' applies to folder and mvtec datasets only"],
    ),
    "folder without root": (
        {"datasets": {"digits": {**DIGITS, "source": "folder"}}},
        ["a folder dataset needs 'datasets.digits.root'"],
    ),
    "no methods": ({"methods": []}, ["'methods': [] should be non-empty"]),
    "a method listed twice": ({"methods": ["none", "none"]}, ["'methods'", "non-unique"]),
    "a grid that repeats a listed method": (
        {
            "methods": {
                "baselines": ["smote-ae"],
                "grid": {"samplers": ["smote"], "autoencoders": ["ae"]},
            }
        },
        ["'methods' names smote-ae twice"],
    ),
    "negative seed": ({"seed": -1}, ["'seed': -1", "0 to 4294967295"]),
    "seed beyond numpy's": ({"seed": 2**32}, ["'seed': 4294967296", "0 to 4294967295"]),
    "dataset name YAML reads as a number": ({"datasets": {2024: DIGITS}}, ["2024", "quote it"]),
    "not a number": ({"classifier": {"lr": float("nan")}}, ["'classifier.lr' is nan"]),
    "a block that is not a mapping": ({"summary": 5}, ["'summary': 5 is not of type 'object'"]),
}


@pytest.mark.parametrize("change, expected", CONFIG_ERRORS.values(), ids=CONFIG_ERRORS.keys())
def test_bad_config_fails_before_any_job_naming_the_key(tmp_path, change, expected):
    workdir = copy_workflow(tmp_path)
    config = write_config(tmp_path / "bad.yaml", with_change(**change))
    result = snakemake(workdir, "--configfile", str(config), "--dry-run", check=False)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "ConfigError in file" in message and "Traceback" not in message  # ours, no crash
    for text in expected:
        assert text in message
    assert not (workdir / "results").exists()


def test_lists_given_with_config_on_the_command_line_are_read_as_numbers(tmp_path):
    # Snakemake reads `run_folds=[1]` as ["1"]; the schema wants integers
    workdir = copy_workflow(tmp_path)
    config = write_config(tmp_path / "tiny.yaml", TINY_CONFIG)
    plan = snakemake(workdir, "--configfile", str(config), "--config", "run_folds=[1]", "-n")
    assert "/fold1/" in plan.stdout and "/fold0/" not in plan.stdout
    wrong = snakemake(
        workdir, "--configfile", str(config), "--config", "run_folds=[one]", "-n", check=False
    )
    assert wrong.returncode != 0
    assert "'run_folds[0]': 'one' is not of type 'integer'" in wrong.stdout + wrong.stderr


def counts(*per_class):
    return {"datasets": {"digits": {**DIGITS, "imbalance": {"counts": list(per_class)}}}}


# data errors: found by the job that reads the data; that job's outputs must not exist after
DATA_ERRORS = {
    "counts above what the data holds": (
        counts(500, *[20] * 9),
        "split/split.npz",
        ["'imbalance.counts'", "500", "only"],
    ),
    "one count per class": (
        counts(60, 30, 10),
        "split/split.npz",
        ["'imbalance.counts' gives 3 counts", "10 classes"],
    ),
    "class with a single training image": (
        counts(*[30] * 9, 1),
        "split/folds.npz",
        ["1 training images", "'folds'"],
    ),
    "missing data root": (
        {
            "datasets": {
                "digits": {
                    **DIGITS,
                    "source": "fashionmnist",
                    "root": "nowhere/fashionmnist",
                    "imbalance": {"ratio": 10, "max_per_class": 60},
                }
            }
        },
        "data/images.npy",
        ["nowhere/fashionmnist", "download: true", "local_copy"],
    ),
}


@pytest.mark.parametrize("change, output, expected", DATA_ERRORS.values(), ids=DATA_ERRORS.keys())
def test_bad_data_fails_in_its_job_and_leaves_no_output(tmp_path, change, output, expected):
    workdir = copy_workflow(tmp_path)
    config = write_config(tmp_path / "bad.yaml", with_change(**change))
    target = f"results/digits/{output}"
    result = snakemake(workdir, target, "--configfile", str(config), check=False)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    for text in expected:
        assert text in message
    assert not (workdir / target).exists()


def test_download_without_internet_names_the_address_and_the_offline_way(tmp_path, monkeypatch):
    """paper.yaml's MNIST on a machine without internet: the download job ends in one message."""
    without_internet(monkeypatch)  # the job's process inherits the proxy settings
    workdir = copy_workflow(tmp_path)
    mnist = {
        "source": "mnist",
        "root": "data/mnist",
        "download": True,
        "imbalance": {"counts": [5] * 10},
    }
    config = write_config(tmp_path / "paper.yaml", with_change(datasets={"mnist": mnist}))
    target = "results/mnist/data/images.npy"
    result = snakemake(workdir, target, "--configfile", str(config), check=False)
    assert result.returncode != 0
    log = (workdir / "results/mnist/logs/download.log").read_text().strip().splitlines()
    assert log[-1].startswith("ConnectionError: downloading MNIST from https://ossci-datasets")
    assert "To run offline" in log[-1] and "data/mnist/MNIST/raw" in log[-1]
    assert "'local_copy'" in log[-1]
    assert log[-1] in result.stdout + result.stderr  # shown on the terminal, too
    assert not (workdir / target).exists()


def test_gpu_asked_on_a_machine_without_one(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    workdir = copy_workflow(tmp_path)
    config = write_config(
        tmp_path / "gpu.yaml", with_change(compute={"device": "cuda"}, methods=["none"])
    )
    target = "results/digits/fold0/classifier/none/resnet18/model.pt"
    result = snakemake(workdir, target, "--configfile", str(config), check=False)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "'compute.device'" in message and "no usable GPU" in message
    assert not (workdir / target).exists()


def test_results_folder_that_cannot_be_written(tmp_path):
    workdir = copy_workflow(tmp_path)
    config = write_config(tmp_path / "tiny.yaml", TINY_CONFIG)
    (workdir / "results").mkdir()
    # immutable: even root cannot write there (CI runs as root, so permissions alone won't do)
    immutable = subprocess.run(["chattr", "+i", str(workdir / "results")], capture_output=True)
    if immutable.returncode != 0:
        pytest.skip(f"chattr +i is not available here: {immutable.stderr.decode().strip()}")
    try:
        result = snakemake(workdir, "--configfile", str(config), check=False)
    finally:
        subprocess.run(["chattr", "-i", str(workdir / "results")], check=True)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "cannot write results to" in message and str(workdir / "results") in message
    assert "--directory" in message
    assert not list((workdir / "results").iterdir())


def test_snakemake_stops_on_a_corrupt_image_and_caches_nothing(tmp_path):
    workdir = copy_workflow(tmp_path)
    write_pictures(tmp_path / "photos" / "good", 4)
    write_pictures(tmp_path / "photos" / "defect", 3)
    (tmp_path / "photos" / "defect" / "scan 7.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    config = {
        "datasets": {
            "photos": {
                "source": "folder",
                "root": str(tmp_path / "photos"),
                "imbalance": {"counts": [3, 2]},
            }
        },
        "folds": 2,
    }
    config_path = write_config(tmp_path / "c.yaml", config)
    # --show-failed-logs prints the failed job's log, which holds the message
    result = snakemake(workdir, "--configfile", str(config_path), "--show-failed-logs", check=False)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "scan 7.png: cannot be read as an image" in output
    assert "skip_bad_images: true" in output
    assert not (workdir / "results" / "photos" / "data" / "images.npy").exists()
