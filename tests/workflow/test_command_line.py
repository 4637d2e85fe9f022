"""The real `latentbalance` command line: its answers to wrong arguments (no trained model
needed), and `predict` / `evaluate` on the classifiers of the session's tiny workflow run."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from latentbalance.verdict.metrics import METRICS

from helpers import TINY_CONFIG, latentbalance

MODEL = "fold0/classifier/smote-ae/resnet18"


def test_a_missing_model_is_named_with_what_to_pass(tmp_path):
    run = latentbalance("predict", "--model", "results/x/fold0/classifier/none", ".", cwd=tmp_path)
    assert run.returncode == 2
    assert "no saved classifier at results/x/fold0/classifier/none;" in run.stderr
    assert "pass a directory like" in run.stderr


def test_a_file_that_is_no_model_is_refused(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "images").mkdir()
    run = latentbalance("predict", "--model", str(tmp_path), str(tmp_path / "images"), cwd=tmp_path)
    assert run.returncode == 2
    assert "holds no image files" in run.stderr
    (tmp_path / "images" / "a.png").write_bytes(b"")
    run = latentbalance("predict", "--model", str(tmp_path), str(tmp_path / "images"), cwd=tmp_path)
    assert run.returncode == 2
    assert "is not a classifier saved by latentbalance" in run.stderr


@pytest.mark.workflow
def test_predict_on_a_folder_of_pngs_matches_the_workflow(tiny_run, tmp_path):
    workdir, _, _ = tiny_run
    results = workdir / "results/digits"
    images = np.load(results / "data/images.npy", mmap_mode="r")
    expected = pd.read_csv(results / MODEL.replace("classifier", "eval") / "test/predictions.csv")
    folder = tmp_path / "new images"
    folder.mkdir()
    for index in expected["index"]:
        Image.fromarray(images[index, 0]).save(folder / f"{index:05d}.png")
    out = tmp_path / "predictions.csv"
    # in the workflow's batches: in bf16 (CPUs with native bf16) another batch size rounds
    # differently, by up to 2.5e-4 in a probability on a Xeon with AMX
    batch_size = str(TINY_CONFIG["classifier"]["batch_size"])
    run = latentbalance(
        "predict", "--model", str(results / MODEL), str(folder), "--out", str(out),
        "--batch-size", batch_size, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    predicted = pd.read_csv(out)
    assert len(predicted) == len(expected)
    predicted["index"] = [int(name[-9:-4]) for name in predicted["file"]]
    merged = expected.merge(predicted, on="index", suffixes=("", "_cli"))
    # class names of digits are "0".."9": the name predicted is the class index predicted
    assert (merged["predicted_cli"].astype(str) == merged["predicted"].astype(str)).all()
    for digit in range(10):
        assert np.allclose(merged[f"p_{digit}_cli"], merged[f"p_{digit}"], atol=1e-4)

    # an unreadable file stops the command, names the file and writes nothing
    (folder / "broken.png").write_bytes(b"not a png")
    out.unlink()
    run = latentbalance(
        "predict", "--model", str(results / MODEL), str(folder), "--out", str(out), cwd=tmp_path
    )
    assert run.returncode == 2
    assert "broken.png" in run.stderr and "cannot be read" in run.stderr
    assert "--skip-bad-images" in run.stderr  # the way to predict the rest
    assert not out.exists()


@pytest.mark.workflow
def test_skip_bad_images_predicts_the_readable_files_and_lists_the_rest(tiny_run, tmp_path):
    workdir, _, _ = tiny_run
    model = str(workdir / "results/digits" / MODEL)
    images = np.load(workdir / "results/digits/data/images.npy")[:6, 0]
    folder = tmp_path / "new images"
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"cut off here")
    out = tmp_path / "predictions.csv"
    run = latentbalance(
        "predict", "--model", model, str(folder), "--out", str(out), "--skip-bad-images",
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    predicted = pd.read_csv(out)
    assert sorted(predicted["file"]) == sorted(str(folder / f"{i}.png") for i in range(6))
    assert np.allclose(predicted[[f"p_{d}" for d in range(10)]].sum(axis=1), 1, atol=1e-5)
    skipped = pd.read_csv(tmp_path / "predictions.skipped.csv")
    assert skipped["file"].tolist() == [str(folder / "broken.png")]
    assert skipped["reason"].str.len().min() > 0
    assert "skipped 1 of 7 files" in run.stderr and "broken.png" in run.stderr

    # nothing readable: nothing to predict, nothing written
    only_bad = tmp_path / "only bad"
    only_bad.mkdir()
    (only_bad / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "none.csv"
    run = latentbalance(
        "predict", "--model", model, str(only_bad), "--out", str(out), "--skip-bad-images",
        cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 2 and "1 of 1 files cannot be read" in run.stderr
    assert not out.exists() and not (tmp_path / "none.skipped.csv").exists()


@pytest.mark.workflow
def test_test_time_flip_gives_an_image_and_its_mirror_one_answer(tiny_run, tmp_path):
    workdir, _, _ = tiny_run
    results = workdir / "results/digits"
    images = np.load(results / "data/images.npy")[:20, 0]
    folder = tmp_path / "images and mirrors"
    folder.mkdir()
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i:02d}.png")
        Image.fromarray(np.ascontiguousarray(image[:, ::-1])).save(folder / f"{i:02d}m.png")

    def probabilities(*flag):
        out = tmp_path / f"predictions{len(flag)}.csv"
        run = latentbalance(
            "predict", "--model", str(results / MODEL), str(folder), "--out", str(out), *flag,
            cwd=tmp_path,
        )  # fmt: skip
        assert run.returncode == 0, run.stderr
        table = pd.read_csv(out).sort_values("file")
        columns = [f"p_{digit}" for digit in range(10)]
        return table[columns].to_numpy().reshape(len(images), 2, 10)  # (image, mirror) pairs

    averaged = probabilities("--test-time-flip")
    assert np.allclose(averaged[:, 0], averaged[:, 1], atol=1e-5)
    assert np.allclose(averaged.sum(-1), 1, atol=1e-5)
    # digits are no mirror images of themselves: without the flag, image and mirror differ
    plain = probabilities()
    assert np.abs(plain[:, 0] - plain[:, 1]).max() > 0.01
    assert np.allclose(averaged[:, 0], plain.mean(axis=1), atol=1e-5)


@pytest.mark.workflow
def test_evaluate_reproduces_the_workflow_metrics(tiny_run, tmp_path):
    workdir, _, _ = tiny_run
    results = workdir / "results/digits"
    out = tmp_path / "again"
    run = latentbalance(
        "evaluate",
        "--model",
        str(results / MODEL),
        "--data",
        str(results / "data/images.npy"),
        "--testset",
        "test_imbalanced",
        "--out",
        str(out),
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    saved = json.loads(
        (results / MODEL.replace("classifier", "eval") / "test_imbalanced/metrics.json").read_text()
    )
    again = json.loads((out / "metrics.json").read_text())
    same = ["method", "classifier", "fold", "testset", "n_images", "test_time_flip", *METRICS]
    assert {k: again[k] for k in same} == pytest.approx({k: saved[k] for k in same})
    assert {k: json.loads(run.stdout)[k] for k in same} == pytest.approx(
        {k: saved[k] for k in same}
    )
    assert (out / "confusion.csv").exists() and (out / "predictions.csv").exists()


@pytest.mark.workflow
def test_evaluate_refuses_the_holdout_of_a_fold_the_model_trained_on(tiny_run, tmp_path):
    workdir, _, _ = tiny_run
    results = workdir / "results/digits"
    common = ["--model", str(results / MODEL), "--data", str(results / "data/images.npy")]
    # fold 0's model trained on fold 1's holdout: scoring it there would be training accuracy
    out = tmp_path / "leaked"
    run = latentbalance(
        "evaluate", *common, "--testset", "holdout", "--fold", "1", "--out", str(out), cwd=tmp_path
    )
    assert run.returncode == 2
    assert "was trained on fold 0" in run.stderr and "fold 1's holdout" in run.stderr
    assert not out.exists()
    # its own fold's holdout, named or by default, and another fold's test set are fine
    for fold in ([], ["--fold", "0"]):
        run = latentbalance("evaluate", *common, "--testset", "holdout", *fold, cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["testset"] == "holdout"
    run = latentbalance("evaluate", *common, "--testset", "test", "--fold", "1", cwd=tmp_path)
    assert run.returncode == 0, run.stderr


# in the workflow's batches: bf16 (CPUs with native bf16) rounds differently in others
BATCH = str(TINY_CONFIG["classifier"]["batch_size"])


@pytest.mark.workflow
def test_logit_adjustment_undoes_the_training_prior_of_an_imbalanced_classifier(tiny_run, tmp_path):
    workdir, _, _ = tiny_run
    results = workdir / "results/digits"
    plain_dir = results / "fold0/eval/none/resnet18/test"
    plain = pd.read_csv(plain_dir / "predictions.csv")
    columns = [f"p_{digit}" for digit in range(10)]
    out = tmp_path / "adjusted"
    run = latentbalance(
        "evaluate", "--model", str(results / "fold0/classifier/none/resnet18"),
        "--data", str(results / "data/images.npy"), "--testset", "test",
        "--logit-adjustment", "1", "--out", str(out), "--batch-size", BATCH, cwd=tmp_path,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["logit_adjustment"] == 1.0
    assert json.loads((plain_dir / "metrics.json").read_text())["logit_adjustment"] == 0

    # the prior is what `none` was fitted on: the fold's imbalanced training images, less the
    # stratified 20 % validation split
    split = np.load(results / "split/split.npz")
    folds = np.load(results / "split/folds.npz")
    labels = np.load(results / "data/images.labels.npz")["labels"]
    train = split["train"][folds["fold"] != 0]
    fold_counts = np.bincount(labels[train], minlength=10)
    fit_counts = np.asarray(torch.load(results / "fold0/classifier/none/resnet18/model.pt",
                                       weights_only=True)["spec"]["fit_counts"])  # fmt: skip
    assert np.abs(fit_counts - 0.8 * fold_counts).max() <= 1
    prior = fit_counts / fit_counts.sum()

    adjusted = pd.read_csv(out / "predictions.csv")
    expected = plain[columns].to_numpy() / prior
    expected /= expected.sum(1, keepdims=True)
    assert np.allclose(adjusted[columns].to_numpy(), expected, atol=1e-5)
    assert (adjusted["predicted"] == adjusted[columns].to_numpy().argmax(1)).all()
    # an answer only ever moves to a class rarer in training: the rarest gains, the largest loses
    before = np.bincount(plain["predicted"], minlength=10)
    after = np.bincount(adjusted["predicted"], minlength=10)
    assert after[np.argmin(prior)] >= before[np.argmin(prior)]
    assert after[np.argmax(prior)] <= before[np.argmax(prior)]
    assert (prior[adjusted["predicted"]] <= prior[plain["predicted"]] + 1e-12).all()
    assert (adjusted["predicted"] != plain["predicted"]).any()
