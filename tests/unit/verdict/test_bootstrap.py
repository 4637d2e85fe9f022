"""The paired bootstrap over test images: each resample draws within each true class, so a
minority class weighs in every resample as it does in the test set."""

import numpy as np
import pandas as pd

from latentbalance.verdict.bootstrap import resampled_scores

COUNTS = [40, 15, 5]
TRUE = np.repeat(np.arange(3), COUNTS)


def predictions(predicted):
    return {0: pd.DataFrame({"index": np.arange(len(TRUE)), "true": TRUE, "predicted": predicted})}


def test_every_resample_keeps_each_class_count():
    # "always c" is right on exactly the images of class c: its accuracy in a resample is that
    # resample's share of class c
    models = {f"always {c}": predictions(np.full(len(TRUE), c)) for c in range(3)}
    # a model that misses some images of every class, so that resamples differ at all
    noisy = TRUE.copy()
    noisy[[0, 1, 2, 40, 41, 55]] = (TRUE[[0, 1, 2, 40, 41, 55]] + 1) % 3
    models["noisy"] = predictions(noisy)
    resampled = resampled_scores(models, resamples=300, seed=0)
    for c, n in enumerate(COUNTS):
        assert np.allclose(resampled[f"always {c}"]["accuracy"], n / len(TRUE)), c
    assert resampled["noisy"]["acsa"].std() > 0.01  # the images are drawn anew each time


def test_the_same_seed_draws_the_same_resamples():
    noisy = TRUE.copy()
    noisy[::7] = (TRUE[::7] + 1) % 3
    models = {"right": predictions(TRUE), "noisy": predictions(noisy)}
    first = resampled_scores(models, resamples=100, seed=4)
    again = resampled_scores(models, resamples=100, seed=4)
    other = resampled_scores(models, resamples=100, seed=5)
    assert np.array_equal(first["noisy"]["acsa"], again["noisy"]["acsa"])
    assert not np.array_equal(first["noisy"]["acsa"], other["noisy"]["acsa"])
