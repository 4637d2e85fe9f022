"""Bad input stops with one message that names the key or file and the fix, a non-zero exit, and
no output that Snakemake would take as complete. (Bad image folders: test_bad_input_data.py.)"""

import pickle
import subprocess

import numpy as np
import pytest
import torch

from latentbalance.classifiers import build_resnet
from latentbalance.sampling import balance
from latentbalance.stages import load_autoencoder, load_classifier, save_model

from conftest import TINY_CONFIG, copy_workflow, snakemake, write_config

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
    "unknown classifier": ({"classifiers": ["vgg16"]}, ["vgg16", "resnet18"]),
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
}


@pytest.mark.parametrize("change, expected", CONFIG_ERRORS.values(), ids=CONFIG_ERRORS.keys())
def test_bad_config_fails_before_any_job_naming_the_key(tmp_path, change, expected):
    workdir = copy_workflow(tmp_path)
    config = write_config(tmp_path / "bad.yaml", with_change(**change))
    result = snakemake(workdir, "--configfile", str(config), "--dry-run", check=False)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    for text in expected:
        assert text in message
    assert not (workdir / "results").exists()


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
        "data/images.npz",
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
    assert "'compute.device'" in message and "no GPU" in message
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


def test_k_larger_than_every_class_names_the_key():
    labels = np.repeat([0, 1, 2], [30, 10, 4])
    features = np.random.default_rng(0).normal(size=(len(labels), 5))
    with pytest.raises(ValueError, match=r"'sampler.k_neighbors' is 30.*below 30"):
        balance(features, labels, "smote", k_neighbors=30, seed=0)
    # a k that only small classes cannot reach is lowered for them, as SMOTE needs
    synthetic, synthetic_labels, info = balance(features, labels, "smote", k_neighbors=8, seed=0)
    assert info[2]["k_neighbors"] == 3 and info[1]["k_neighbors"] == 8
    assert np.bincount(synthetic_labels).tolist() == [0, 20, 26]


@pytest.fixture
def classifier_file(tmp_path):
    path = tmp_path / "model.pt"
    model = build_resnet("resnet18", 1, 3, "small")
    spec = {"arch": "resnet18", "stem": "small", "in_channels": 1, "n_classes": 3}
    save_model(path, model, spec)
    return path


def test_truncated_model_file_names_it_and_says_what_to_do(classifier_file):
    assert load_classifier(classifier_file)[1]["arch"] == "resnet18"
    classifier_file.write_bytes(classifier_file.read_bytes()[:50_000])
    with pytest.raises(ValueError, match="damaged") as error:
        load_classifier(classifier_file)
    assert str(classifier_file) in str(error.value) and "rerun" in str(error.value)


class RunsCode:
    """Unpickling this runs a shell command: what a tampered model file would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.marker)],))


def test_tampered_model_file_is_refused_without_running_its_code(tmp_path):
    marker, path = tmp_path / "code-ran", tmp_path / "model.pt"
    torch.save({"spec": RunsCode(marker), "state_dict": {}}, path, pickle_protocol=2)
    with open(path, "rb") as handle:  # the payload is real: plain pickle would run it
        assert b"touch" in handle.read()
    with pytest.raises(ValueError, match="can load safely") as error:
        load_autoencoder(path)
    assert str(path) in str(error.value)
    assert not marker.exists()


def test_plain_pickle_of_the_tampered_file_would_have_run_it(tmp_path):
    """The control for the test above: the file really carries code."""
    marker = tmp_path / "code-ran"
    payload = pickle.dumps({"spec": RunsCode(marker)})
    pickle.loads(payload)
    assert marker.exists()
