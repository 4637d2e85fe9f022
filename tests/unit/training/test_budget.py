"""A run's estimate, counted from its config as the workflow plans it: jobs per rule, images per
epoch, and the time that grows with the epochs."""

import copy

import pytest

from latentbalance.data.inspection import complete_config
from latentbalance.training.budget import Costs, Data, Machine, NetCost, estimate

COUNTS = [400, 100, 40]  # training pool per class
DATA = Data(images=675, counts=COUNTS, test=135, test_imbalanced=60, channels=3, size=(32, 32),
            read_s=5.0)  # fmt: skip
MACHINE = Machine("cpu", "fp32", threads=2, cores=2, cpu="test CPU", neighbour_s=1e-10)
NET = NetCost(train_s=0.01, forward_s=0.003, train_flops=1e9, forward_flops=3e8, memory=10**8)


def costs(classifiers=None) -> Costs:
    resnet34 = NetCost(0.02, 0.006, 2e9, 6e8, 2 * 10**8)
    classifiers = classifiers or {"resnet18": NET, "resnet34": resnet34}
    return Costs(MACHINE, (32, 32), {"ae": NET, "vae": NET}, classifiers)


def config(**changes) -> dict:
    block = {"source": "folder", "root": "/data", "test_fraction": 0.2}
    base = complete_config({**block, "imbalance": {"counts": COUNTS}}, "parts", seed=1)
    base.update(copy.deepcopy(changes))
    return base


def stages(found) -> dict:
    return {stage.rule: stage for stage in found.stages}


def test_jobs_per_rule_follow_folds_methods_and_architectures():
    methods = ["none", "weighted", "ros", "smote-ae", "adasyn-ae", "smote-vae+penalty", "none@crt"]
    run = config(
        folds=4,
        run_folds=[0, 2],
        methods=methods,
        architectures=["resnet18", "resnet34"],
        testsets=["test", "holdout"],
    )
    jobs = {rule: stage.jobs for rule, stage in stages(estimate(run, DATA, costs())).items()}
    assert jobs == {
        "download": 1,
        "split": 1,
        "folds": 1,
        "train_autoencoder": 2 * 2,  # ae and vae+penalty, in 2 of 4 folds
        "oversample": 4 * 2,  # ros, smote-ae, adasyn-ae, smote-vae+penalty
        "train_classifier": 6 * 2 * 2,  # every method but the head, 2 architectures
        "train_head": 1 * 2 * 2,
        "evaluate": 7 * 2 * 2,
        "summarize": 1,
    }


def test_a_balanced_set_trains_on_every_class_at_the_majority():
    found = stages(estimate(config(methods=["none", "smote-ae"], folds=5), DATA, costs()))
    # a fold trains on 4/5 of the pool and fits 80 % of that (validation_fraction): 256 of the
    # majority class, so 3 x 256 balanced from the fit images alone
    assert found["train_classifier"].does == f"up to {3 * 256:,.0f} images x 30 epochs"
    assert found["oversample"].does == f"{(256 - 64) + (256 - 25.6):,.0f} new images"
    assert found["train_autoencoder"].does == f"{sum(COUNTS) * 0.8 * 0.8:,.0f} images x 50 epochs"
    # with a balanced validation set outside the pool, a fold fits all its training images
    block = {**config()["datasets"]["parts"], "validation_per_class": 10}
    outside = stages(estimate(config(methods=["none", "smote-ae"], folds=5,
                                     datasets={"parts": block}), DATA, costs()))  # fmt: skip
    assert outside["train_classifier"].does == f"up to {3 * 320:,.0f} images x 30 epochs"
    # an equal image budget gives the imbalanced set more epochs
    budget = config(methods=["none"], classifier={**config()["classifier"], "images_seen": 4320})
    assert stages(estimate(budget, DATA, costs()))["train_classifier"].seconds == pytest.approx(
        5 * (7.0 + round(4320 / 345.6) * (345.6 * NET.train_s + 86.4 * NET.forward_s))
    )


def test_time_grows_with_epochs_and_the_wall_time_shares_the_cores():
    short = estimate(config(classifier={**config()["classifier"], "epochs": 10}), DATA, costs())
    long = estimate(config(classifier={**config()["classifier"], "epochs": 20}), DATA, costs())
    added = stages(long)["train_classifier"].seconds - stages(short)["train_classifier"].seconds
    # one epoch of the three methods' classifiers in each of five folds, at 2 threads on 2 cores
    # none, weighted fit 80 % of the fold; smote-ae its balanced set; all validate on 20 %
    fit = [sum(COUNTS) * 0.8 * 0.8] * 2 + [3 * 256]
    val = sum(COUNTS) * 0.8 * 0.2
    per_epoch = sum(n * NET.train_s + val * NET.forward_s for n in fit) * 5
    assert added == pytest.approx(10 * per_epoch)
    assert long.wall - short.wall == pytest.approx(added)  # training jobs take both cores
    total = sum(stage.seconds * stage.threads for stage in long.stages) / MACHINE.cores
    assert long.wall == pytest.approx(total)


def test_peak_memory_is_the_largest_job_with_its_neighbours():
    big = costs(classifiers={"resnet18": NetCost(0.01, 0.003, 1e9, 3e8, 5 * 10**9)})
    held, rule = estimate(config(), DATA, big).memory
    assert rule == "train_classifier" and 5 * 10**9 < held < 6 * 10**9


def test_an_oversampler_holds_its_features_not_the_fit_images():
    """Latent methods read the fit images from the cache batch by batch: their memory grows
    with the codes, not the pixels; pixel interpolation holds the images as floats; ros holds
    positions. The working set is the check's and the decoder's budgets."""
    from latentbalance.rebalance.methods import parse_method
    from latentbalance.rebalance.sampling_space import DECODE_CHUNK_BYTES
    from latentbalance.rebalance.synthetic_check import CHECK_BYTES, WORKING_MEMORY_MB
    from latentbalance.training.budget import (
        OVERSAMPLE_WORKING_BYTES,
        oversample_held_bytes,
        sampler_width,
    )

    assert OVERSAMPLE_WORKING_BYTES == 2 * CHECK_BYTES + WORKING_MEMORY_MB * 2**20 + (
        DECODE_CHUNK_BYTES
    )
    small, large = 3 * 32 * 32, 3 * 128 * 128
    held = {
        (name, row): oversample_held_bytes(
            row, 50_000, 100_000, sampler_width(parse_method(name), row, 600)
        )
        for name in ("smote-ae", "smote-pixel", "ros")
        for row in (small, large)
    }
    assert held["smote-ae", small] == held["smote-ae", large] < 2 * 2**30
    assert held["ros", large] < OVERSAMPLE_WORKING_BYTES + 2**21
    assert held["smote-pixel", large] > 16 * held["smote-pixel", small] / 2 > 10 * 2**30
