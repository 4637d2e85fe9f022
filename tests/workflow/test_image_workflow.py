"""A real Snakemake run on a user's kind of data: an MVTec AD-style tree and a folder of real
CIFAR-10 PNGs (3-channel, 32x32), each through every stage."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from helpers import (
    copy_workflow,
    foolbox_cifar_pngs,
    snakemake,
    write_config,
    write_foolbox_cifar_folder,
    write_mvtec_tree,
)

pytestmark = pytest.mark.workflow


def image_run_config(data: Path) -> dict:
    """An MVTec AD-style tree and, when foolbox is installed, its real CIFAR-10 PNGs as a
    2-class folder dataset (animal / vehicle); one fold, one method, tiny epochs."""
    write_mvtec_tree(
        data / "mvtec", train_good=40, test_good=8, defects={"broken": 5, "cut": 4, "dirt": 4}
    )
    datasets = {
        "bottle": {
            "source": "mvtec",
            "root": str(data / "mvtec"),
            "category": "bottle",
            "image_size": 32,
            "test_fraction": 0.13,
            "imbalance": {"counts": [30, 8]},
        }
    }
    if foolbox_cifar_pngs():
        write_foolbox_cifar_folder(data / "cifar")
        datasets["cifar_pngs"] = {
            "source": "folder",
            "root": str(data / "cifar"),
            "test_fraction": 0.2,
            "imbalance": {"counts": [8, 4]},
        }
    return {
        "seed": 3,
        "datasets": datasets,
        "folds": 2,
        "run_folds": [0],
        "methods": ["smote-ae"],  # one method keeps the run short; baselines are tested elsewhere
        "architectures": ["resnet18"],
        "testsets": ["test"],
        "autoencoder": {"epochs": 1, "batch_size": 16, "width": 8},
        # fold 0 of the CIFAR PNGs trains on 4 + 2 images: SMOTE's default k = 5 fits no class
        "sampler": {"k_neighbors": 2},
        "classifier": {"stem": "small", "epochs": 2, "batch_size": 16},
        "compute": {"threads": 1, "device": "cpu"},
    }


def test_mvtec_tree_and_real_cifar_pngs_run_end_to_end(tmp_path):
    """One Snakemake run (one test, so that parallel test workers do not run it twice)."""
    workdir = copy_workflow(tmp_path)
    config = image_run_config(tmp_path / "data")
    snakemake(workdir, "--configfile", str(write_config(workdir / "images.yaml", config)))

    results = workdir / "results" / "bottle"
    leaderboard = pd.read_csv(results / "summary" / "leaderboard.csv")
    assert leaderboard["method"].tolist() == ["smote-ae"]
    assert np.load(results / "data" / "images.npy", mmap_mode="r").shape[1:] == (3, 32, 32)
    cache = np.load(results / "data" / "images.labels.npz")
    assert list(cache["class_names"]) == ["good", "defect"]
    assert str(cache["files"][0]) == "bottle/train/good/000.png"
    assert pd.read_csv(results / "data" / "skipped_images.csv").empty
    split = pd.read_csv(results / "split" / "class_counts.csv")
    assert split["test"].tolist() == [6, 2]  # 13 % of 48 good and 13 defective images
    evaluation = results / "fold0" / "eval" / "smote-ae" / "resnet18" / "test"
    metrics = json.loads((evaluation / "metrics.json").read_text())
    assert metrics["n_images"] == 8 and 0 <= metrics["acsa"] <= 1
    assert (evaluation / "confusion.png").read_bytes()[:4] == b"\x89PNG"
    assert Image.open(evaluation / "prediction_grid.png").size[0] > 600
    assert pd.read_csv(evaluation / "per_class.csv")["class"].tolist() == ["good", "defect"]
    synthetic = np.load(results / "fold0" / "balanced" / "smote-ae.images.npy", mmap_mode="r")
    assert synthetic.shape[1:] == (3, 32, 32)

    if "cifar_pngs" not in config["datasets"]:
        pytest.skip("foolbox (test extra) is not installed: real CIFAR-10 PNG part not run")
    results = workdir / "results" / "cifar_pngs"
    assert pd.read_csv(results / "summary" / "leaderboard.csv")["method"].tolist() == ["smote-ae"]
    checkpoint = torch.load(
        results / "fold0" / "autoencoder" / "ae-nopenalty" / "model.pt", weights_only=True
    )
    assert checkpoint["spec"]["latent_dim"] == 600  # DeepSMOTE's size for 3-channel images
    info = json.loads((results / "fold0" / "balanced" / "smote-ae.json").read_text())
    assert set(info["per_class"]) == {"animal", "vehicle"}
    grid = results / "fold0" / "eval" / "smote-ae" / "resnet18" / "test" / "prediction_grid.png"
    assert grid.stat().st_size > 5_000
