"""What a training stage records of a classifier: the spec it builds the network from is the one its
model file keeps, so that loading rebuilds what was trained."""

import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import torch

from latentbalance.nets.classifiers import CosineLinear, build_classifier
from latentbalance.settings.recipes import ClassifierRecipe, LossRecipe
from latentbalance.stages import classifier_spec

# 40, 10 and no images of the three classes
FIT_LABELS = np.repeat([0, 1], [40, 10])
DATASET = SimpleNamespace(image_shape=(1, 8, 8), n_classes=3, class_names=["a", "b", "c"])


def job(method: str, **loss) -> dict:
    recipe = ClassifierRecipe.from_config({"stem": "small"})
    return {"fold": 2, "method": method, "arch": "resnet18", "recipe": recipe} | (
        {"loss": LossRecipe.from_config(loss)} if loss else {}
    )


def test_ldam_trains_and_loads_a_cosine_last_layer_at_its_scale():
    spec = classifier_spec(DATASET, job("ldam-drw", ldam_scale=20.0), FIT_LABELS)
    assert (spec["last_layer"], spec["cosine_scale"]) == ("cosine", 20.0)
    model = build_classifier(spec)
    assert isinstance(model.fc, CosineLinear) and model.fc.scale == 20.0
    assert model(torch.rand(2, 1, 8, 8)).shape == (2, 3)
    # a long-tail loss already learned the balanced posterior: evaluation leaves its prior alone
    assert spec["prior_corrected"] and not spec["class_weighted"]


def test_a_plain_classifier_records_its_fit_prior_and_where_it_was_trained():
    spec = classifier_spec(DATASET, job("weighted"), FIT_LABELS)
    assert spec["last_layer"] == "linear" and "cosine_scale" not in spec
    assert isinstance(build_classifier(spec).fc, torch.nn.Linear)
    assert spec["fit_counts"] == [40, 10, 0] and spec["class_weighted"]
    assert not spec["prior_corrected"]
    assert (spec["method"], spec["arch"], spec["stem"], spec["fold"]) == (
        "weighted",
        "resnet18",
        "small",
        2,
    )
    assert (spec["in_channels"], spec["image_size"]) == (1, [8, 8])


def test_a_training_job_starts_without_the_scoring_libraries():
    """Every training and oversampling job imports this module: scikit-learn, imbalanced-learn
    and SciPy (about 1.5 s of each job's start-up, 32 jobs in the default run) load only in the
    jobs that score or sample."""
    code = "import sys, latentbalance.stages; print(sorted({m.split('.')[0] for m in sys.modules}))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    for library in ("sklearn", "imblearn", "scipy"):
        assert f"'{library}'" not in loaded
