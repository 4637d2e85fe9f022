"""Real snakemake runs of the whole workflow on a tiny config."""

import json
import re

import numpy as np
import pandas as pd
import pytest
import yaml

from latentbalance.data.splits import fold_indices
from latentbalance.rebalance.methods import valid_method_ids

from helpers import TINY_CONFIG, copy_workflow, planned_jobs, snakemake, write_config

pytestmark = pytest.mark.workflow


def test_run_produces_summary_and_sane_metrics(tiny_run):
    workdir, _, _ = tiny_run
    results = workdir / "results" / "digits"
    leaderboard = pd.read_csv(results / "summary" / "leaderboard.csv")
    assert set(leaderboard["method"]) == {"none", "smote-ae"}
    assert set(leaderboard["testset"]) == {"test", "test_imbalanced", "holdout"}
    assert (leaderboard["folds"] == 2).all()
    per_fold = pd.read_csv(results / "summary" / "metrics_per_fold.csv")
    assert len(per_fold) == 2 * 2 * 3  # folds x methods x test sets
    for column in ["accuracy", "acsa", "macro_f1", "gmean_multiclass", "gmean_macro"]:
        assert per_fold[column].between(0, 1).all(), column
    # three epochs on 8x8 digits already beat chance (0.1) clearly
    assert per_fold["accuracy"].mean() > 0.3
    markdown = (results / "summary" / "leaderboard.md").read_text()
    assert "smote-ae" in markdown and "±" in markdown
    assert (results / "summary" / "leaderboard.png").stat().st_size > 10_000

    for fold in (0, 1):
        for method in ("none", "smote-ae"):
            evaluation = results / f"fold{fold}" / "eval" / method / "resnet18" / "test"
            metrics = json.loads((evaluation / "metrics.json").read_text())
            assert metrics["fold"] == fold and metrics["method"] == method
            assert (evaluation / "confusion.png").read_bytes()[:4] == b"\x89PNG"
            report = pd.read_csv(evaluation / "per_class.csv")
            assert len(report) == 10
            predictions = pd.read_csv(evaluation / "predictions.csv")
            assert len(predictions) == metrics["n_images"]


def test_training_logs_show_the_progress_inside_each_epoch(tiny_run):
    workdir, _, _ = tiny_run
    logs = workdir / "results" / "digits" / "logs" / "fold0"
    epochs = {
        "train_autoencoder/ae-nopenalty.log": TINY_CONFIG["autoencoder"]["epochs"],
        "train_classifier/smote-ae-resnet18.log": TINY_CONFIG["classifier"]["epochs"],
    }
    for log, count in epochs.items():
        # each epoch leaves its last line: images done of all, images/s, batches done of all
        last = re.compile(r"epoch (\d+): 100%.* (\d+)/\2 \[.* img/s, batch (\d+)/\3\]")
        lines = re.split(r"[\r\n]", (logs / log).read_text())
        ended = {int(match[1]) for line in lines if (match := last.match(line))}
        assert ended == set(range(1, count + 1)), log


def test_balanced_set_has_every_class_at_the_majority_count(tiny_run):
    workdir, _, _ = tiny_run
    results = workdir / "results" / "digits"
    labels = np.load(results / "data" / "images.labels.npz")["labels"]
    for fold in (0, 1):
        # the fold's fit images: its validation images are neither balanced nor fitted
        train = fold_indices(
            results / "split" / "split.npz", results / "split" / "folds.npz", fold
        )["fit"]
        balanced = np.load(results / f"fold{fold}" / "balanced" / "smote-ae.npz")
        assert np.array_equal(balanced["real_indices"], train)
        # sampler.synthetic_share is 1 (DeepSMOTE): every missing image is generated
        assert len(balanced["repeated_indices"]) == 0
        counts = np.bincount(labels[train], minlength=10) + np.bincount(
            balanced["synthetic_labels"], minlength=10
        )
        assert (counts == counts.max()).all()
        synthetic = np.load(results / f"fold{fold}" / "balanced" / "smote-ae.images.npy")
        assert synthetic.shape == (len(balanced["synthetic_labels"]), 1, 8, 8)


def test_second_run_is_a_no_op(tiny_run):
    workdir, config, _ = tiny_run
    result = snakemake(workdir, "--configfile", str(config), "--dry-run")
    assert "Nothing to be done" in result.stdout + result.stderr


def test_changed_classifier_setting_reruns_only_classifier_jobs(tiny_run, tmp_path):
    workdir, _, _ = tiny_run
    changed = {**TINY_CONFIG, "classifier": {**TINY_CONFIG["classifier"], "lr": 0.01}}
    config = write_config(workdir / "changed.yaml", changed)
    result = snakemake(workdir, "--configfile", str(config), "--dry-run")
    jobs = planned_jobs(result.stdout)
    assert jobs == {"all": 1, "evaluate": 4, "summarize": 1, "train_classifier": 4}


def test_changed_evaluation_setting_reruns_only_the_evaluations(tiny_run):
    workdir, _, _ = tiny_run
    changed = {**TINY_CONFIG, "evaluate": {"test_time_flip": True}}
    config = write_config(workdir / "changed_flip.yaml", changed)
    jobs = planned_jobs(snakemake(workdir, "--configfile", str(config), "--dry-run").stdout)
    assert jobs == {"all": 1, "evaluate": 4, "summarize": 1}


def test_changed_sampler_setting_keeps_the_autoencoders(tiny_run):
    workdir, _, _ = tiny_run
    changed = {**TINY_CONFIG, "sampler": {"k_neighbors": 3}}
    config = write_config(workdir / "changed_k.yaml", changed)
    jobs = planned_jobs(snakemake(workdir, "--configfile", str(config), "--dry-run").stdout)
    assert "train_autoencoder" not in jobs
    assert jobs["oversample"] == 2
    # only the generating method's classifiers are retrained
    assert jobs["train_classifier"] == 2


def test_command_line_configfile_replaces_the_default(tiny_run):
    """A user's config file runs only its own datasets, not the default mnist5k as well."""
    workdir, config, _ = tiny_run
    result = snakemake(workdir, "--configfile", str(config), "--dry-run")
    assert "mnist5k" not in result.stdout + result.stderr
    assert yaml.safe_load(config.read_text())["datasets"].keys() == {"digits"}


# every baseline, every sampler, every autoencoder kind, with and without the penalty; `none` and
# `smote-ae` (the plain autoencoder) run end to end in the session's tiny run
EVERY_KIND = [
    "weighted",
    "ros",
    "smote-pixel",
    "adasyn-pixel",
    "borderline-pixel",
    "adasyn-vae+penalty",
    "borderline-wae",
    "ros-wae+penalty",
]


def test_every_kind_of_method_runs_end_to_end(tmp_path):
    workdir = copy_workflow(tmp_path)
    config = {
        **TINY_CONFIG,
        "run_folds": [0],
        "methods": EVERY_KIND,
        "testsets": ["test"],
        "autoencoder": {**TINY_CONFIG["autoencoder"], "epochs": 1},
        "classifier": {
            **TINY_CONFIG["classifier"],
            "epochs": 1,
            "schedule": "cosine",
        },
        "evaluate": {"test_time_flip": True, "logit_adjustment": 1},
        # half of each class's missing images generated, half repeated real ones
        "sampler": {**TINY_CONFIG.get("sampler", {}), "synthetic_share": 0.5},
    }
    snakemake(workdir, "--configfile", str(write_config(tmp_path / "every.yaml", config)))
    results = workdir / "results" / "digits"
    leaderboard = pd.read_csv(results / "summary" / "leaderboard.csv")
    assert sorted(leaderboard["method"]) == sorted(EVERY_KIND)
    assert (leaderboard["folds"] == 1).all()
    evaluation = json.loads(
        (results / "fold0/eval/weighted/resnet18/test/metrics.json").read_text()
    )
    # scores say how they were computed
    assert evaluation["test_time_flip"] is True and evaluation["logit_adjustment"] == 1
    # one autoencoder per (kind, penalty), shared by the samplers that use it
    autoencoders = sorted(p.name for p in (results / "fold0" / "autoencoder").iterdir())
    assert autoencoders == ["vae-penalty", "wae-nopenalty", "wae-penalty"]
    history = pd.read_csv(results / "fold0" / "autoencoder" / "vae-penalty" / "history.csv")
    assert {"train_recon", "train_kl", "train_penalty", "val_mse"} <= set(history.columns)
    labels = np.load(results / "data" / "images.labels.npz")["labels"]
    for method in EVERY_KIND[1:]:  # all but `weighted` generate images
        info = json.loads((results / "fold0" / "balanced" / f"{method}.json").read_text())
        per_class = info["per_class"]
        final = {name: c["real"] + c["synthetic"] + c["repeated"] for name, c in per_class.items()}
        assert len(set(final.values())) == 1, (method, final)
        missing = {name: c["synthetic"] + c["repeated"] for name, c in per_class.items()}
        assert all(abs(c["synthetic"] - c["repeated"]) <= 1 for c in per_class.values())
        assert sum(missing.values()) > 0
        balanced = np.load(results / "fold0" / "balanced" / f"{method}.npz")
        repeated = balanced["repeated_indices"]
        # repeats are the fold's own training images, of the classes that were short
        assert np.isin(repeated, balanced["real_indices"]).all()
        names = list(per_class)
        assert np.bincount(labels[repeated], minlength=len(names)).tolist() == [
            per_class[name]["repeated"] for name in names
        ]
        assert (results / "fold0" / "balanced" / f"{method}.png").stat().st_size > 5_000


def test_dry_run_of_every_method_id_shares_autoencoders(tmp_path):
    workdir = copy_workflow(tmp_path)
    config = {
        **TINY_CONFIG,
        "run_folds": [0],
        "methods": valid_method_ids(),
        "architectures": ["resnet18", "resnet50"],
    }
    result = snakemake(
        workdir, "--configfile", str(write_config(tmp_path / "all.yaml", config)), "--dry-run"
    )
    jobs = planned_jobs(result.stdout)
    n_methods = len(valid_method_ids())
    assert jobs["train_classifier"] == 2 * n_methods
    assert jobs["train_autoencoder"] == 6  # ae, vae, wae x without/with penalty
    # all but none, weighted and the four losses
    assert jobs["oversample"] == n_methods - 6


def test_counts_can_give_what_each_fold_trains_on(tmp_path):
    workdir = copy_workflow(tmp_path)
    counts = [40, 36, 32, 28, 24, 20, 16, 12, 8, 4]
    digits = {
        **TINY_CONFIG["datasets"]["digits"],
        "imbalance": {"counts": counts, "counts_are": "fold_training"},
    }
    config = {**TINY_CONFIG, "datasets": {"digits": digits}, "folds": 2}
    split = workdir / "results" / "digits" / "split"
    snakemake(
        workdir,
        "results/digits/split/folds.npz",
        "--configfile",
        str(write_config(tmp_path / "per-fold.yaml", config)),
    )
    labels = np.load(workdir / "results" / "digits" / "data" / "images.labels.npz")["labels"]
    for fold in (0, 1):
        parts = fold_indices(split / "split.npz", split / "folds.npz", fold)
        # each fold trains on the counts as given; its holdout is as large again (2 folds)
        assert np.bincount(labels[parts["train"]], minlength=10).tolist() == counts
        assert np.bincount(labels[parts["holdout"]], minlength=10).tolist() == counts
