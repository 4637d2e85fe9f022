"""The rivals on the same folds: long-tail losses and two-stage heads run end to end, are saved
whole, load in `latentbalance predict`, and a changed setting reruns only what it concerns."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from latentbalance.nets.model_files import load_classifier, read_model_file

from helpers import (
    HEADED,
    LOSSES,
    RIVALS,
    copy_workflow,
    latentbalance,
    planned_jobs,
    snakemake,
    write_config,
)

pytestmark = pytest.mark.workflow


def test_every_rival_is_a_model_of_the_leaderboard(rivals_run):
    results = rivals_run / "results" / "digits"
    board = pd.read_csv(results / "summary" / "leaderboard.csv")
    assert sorted(board["method"].unique()) == sorted(RIVALS["methods"])
    holdout = board[board["testset"] == "holdout"].set_index("method")
    assert (holdout["acsa_mean"].between(0, 1)).all()
    # ros is trained for ros@crt although not listed: a head needs its backbone, not its scores
    assert (results / "fold0/classifier/ros/resnet18/model.pt").exists()
    assert not (results / "fold0/eval/ros").exists()
    # one balanced set per generating backbone, none for a head
    balanced = sorted(p.name for p in (results / "fold0/balanced").glob("*.npz"))
    assert balanced == ["ros.npz", "smote-ae.npz"]


def test_every_method_of_a_fold_fits_the_same_real_images_and_picks_its_epoch_on_the_same(
    rivals_run,
):
    """One real-image budget: every model of a fold (classifiers, heads, the autoencoder) fitted
    exactly the fold's fit images (as themselves, as copies or as sources of synthetic images)
    and chose its epoch on the fold's validation images, which none of them fitted."""
    import hashlib

    from latentbalance.data.splits import fold_indices

    results = rivals_run / "results" / "digits"
    parts = fold_indices(results / "split/split.npz", results / "split/folds.npz", 0)
    assert np.intersect1d(parts["fit"], parts["validation"]).size == 0
    assert len(parts["validation"]) > 0

    def described(indices):
        indices = np.unique(np.asarray(indices, dtype=np.int64))
        return {"count": len(indices), "sha256": hashlib.sha256(indices.tobytes()).hexdigest()}

    expected = {"fitted": described(parts["fit"]), "validation": described(parts["validation"])}
    models = sorted((results / "fold0").glob("*/*/*/model.pt"))
    models += sorted((results / "fold0" / "autoencoder").glob("*/model.pt"))
    methods = {path.parent.parent.name for path in models}
    assert methods >= {"none", "ros", "smote-ae", *LOSSES, *HEADED}, methods
    for path in models:
        assert read_model_file(path)["spec"]["real_images"] == expected, path
    # the balanced sets were made from the fit images alone
    for balanced in (results / "fold0" / "balanced").glob("*.npz"):
        with np.load(balanced) as saved:
            assert np.array_equal(saved["real_indices"], parts["fit"])
            assert np.isin(saved["repeated_indices"], parts["fit"]).all()
            copies = saved["synthetic_sources"]
            assert np.isin(copies[copies >= 0], parts["fit"]).all()


def test_a_method_given_epochs_of_its_own_trains_them_and_its_models_say_so(rivals_run):
    results = rivals_run / "results" / "digits"
    classifiers = results / "fold0" / "classifier"
    assert len(pd.read_csv(classifiers / "none/resnet18/history.csv")) == 3
    assert len(pd.read_csv(classifiers / "la-loss/resnet18/history.csv")) == 2
    board = pd.read_csv(results / "summary" / "leaderboard.csv")
    models = set(board["model"])
    named = {"none (3 epochs)", "none@crt (3 epochs)", "la-loss", "ros@crt"}
    assert {f"{label} / resnet18" for label in named} <= models


def test_a_head_model_holds_the_whole_network_with_a_new_last_layer(rivals_run):
    fold = rivals_run / "results" / "digits" / "fold0" / "classifier"
    backbone, backbone_spec = load_classifier(fold / "none/resnet18/model.pt")
    headed, spec = load_classifier(fold / "none@crt/resnet18/model.pt")
    assert spec["method"] == "none@crt" and spec["backbone"] == "none" and spec["head"] == "crt"
    # the backbone frozen: every weight but the last layer's is the backbone's
    for (name, a), (_, b) in zip(
        backbone.state_dict().items(), headed.state_dict().items(), strict=True
    ):
        assert torch.equal(a, b) != name.startswith("fc."), name
    # trained on balanced classes: its prior is uniform, the backbone's the fold's
    assert len(set(spec["fit_counts"])) == 1
    assert len(set(backbone_spec["fit_counts"])) > 1
    # LDAM's cosine layer is kept in its model file and replaced by the head's linear one
    _, ldam = load_classifier(fold / "ldam-drw/resnet18/model.pt")
    assert ldam["last_layer"] == "cosine" and ldam["prior_corrected"]
    _, ldam_eos = load_classifier(fold / "ldam-drw@eos/resnet18/model.pt")
    assert ldam_eos["last_layer"] == "linear"


def test_a_head_model_predicts_new_images_as_the_workflow_scored_them(rivals_run, tmp_path):
    results = rivals_run / "results" / "digits"
    expected = pd.read_csv(results / "fold0/eval/none@crt/resnet18/test/predictions.csv")
    images = np.load(results / "data/images.npy", mmap_mode="r")
    folder = tmp_path / "new"
    folder.mkdir()
    for index in expected["index"][:20]:
        Image.fromarray(images[index, 0]).save(folder / f"{index:05d}.png")
    out = tmp_path / "predictions.csv"
    run = latentbalance(
        "predict", "--model", str(results / "fold0/classifier/none@crt/resnet18"), str(folder),
        "--out", str(out), "--batch-size", str(RIVALS["classifier"]["batch_size"]),
        "--logit-adjustment", "1", cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    predicted = pd.read_csv(out)
    predicted["index"] = [int(name[-9:-4]) for name in predicted["file"]]
    merged = expected.merge(predicted, on="index", suffixes=("", "_cli"))
    assert len(merged) == 20
    assert (merged["predicted_cli"].astype(str) == merged["predicted"].astype(str)).all()


def test_scores_of_a_loss_method_say_no_prior_was_divided_out_twice(rivals_run):
    # the loss already balances the classes: logit adjustment at evaluation uses a uniform prior,
    # so it changes nothing and the adjusted and raw predictions agree
    results = rivals_run / "results" / "digits" / "fold0" / "eval"
    metrics = json.loads((results / "la-loss/resnet18/test/metrics.json").read_text())
    assert metrics["logit_adjustment"] == 1
    _, spec = load_classifier(
        rivals_run / "results/digits/fold0/classifier/la-loss/resnet18/model.pt"
    )
    assert spec["prior_corrected"] and len(set(spec["fit_counts"])) > 1


def test_a_changed_head_setting_reruns_only_heads_their_evaluation_and_the_summary(rivals_run):
    changed = {**RIVALS, "heads": {"epochs": 3, "eos_neighbors": 5}}
    config = write_config(rivals_run / "changed_heads.yaml", changed)
    jobs = planned_jobs(snakemake(rivals_run, "--configfile", str(config), "--dry-run").stdout)
    # EOS's neighbours: the two EOS heads rerun, no backbone, no other head
    assert jobs == {"all": 1, "train_head": 3, "evaluate": 3, "summarize": 1}
    changed = {**RIVALS, "heads": {"epochs": 4}}
    config = write_config(rivals_run / "changed_epochs.yaml", changed)
    jobs = planned_jobs(snakemake(rivals_run, "--configfile", str(config), "--dry-run").stdout)
    assert jobs == {"all": 1, "train_head": 6, "evaluate": 6, "summarize": 1}


def test_epochs_given_to_one_method_rerun_only_it_and_its_heads(rivals_run):
    classifier = {
        **RIVALS["classifier"],
        "by_method": {"none": {"epochs": 3}, "ldam-drw": {"epochs": 4}},
    }
    config = write_config(rivals_run / "ldam_epochs.yaml", {**RIVALS, "classifier": classifier})
    jobs = planned_jobs(snakemake(rivals_run, "--configfile", str(config), "--dry-run").stdout)
    # ldam-drw and ldam-drw@eos; none and its three heads keep their 3 epochs
    assert jobs == {"all": 1, "train_classifier": 1, "train_head": 1, "evaluate": 2, "summarize": 1}


def test_a_changed_loss_setting_reruns_only_the_loss_that_uses_it(rivals_run):
    changed = {**RIVALS, "losses": {"la_tau": 1.5}}
    config = write_config(rivals_run / "changed_tau.yaml", changed)
    jobs = planned_jobs(snakemake(rivals_run, "--configfile", str(config), "--dry-run").stdout)
    assert jobs == {"all": 1, "train_classifier": 1, "evaluate": 1, "summarize": 1}


def test_an_unknown_head_is_refused_naming_the_heads(tmp_path):
    workdir = copy_workflow(tmp_path)
    config = write_config(tmp_path / "bad.yaml", {**RIVALS, "methods": ["none@svm"]})
    run = snakemake(workdir, "--configfile", str(config), "--dry-run", check=False)
    assert run.returncode != 0
    assert "unknown head 'svm'" in run.stdout + run.stderr
    assert "crt, smote-feat, eos" in run.stdout + run.stderr
