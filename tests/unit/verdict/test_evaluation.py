"""What an evaluation writes for one test set: its files agree with the predictions."""

import numpy as np
import pandas as pd
import pytest

from latentbalance.data.image_dataset import ImageDataset
from latentbalance.io import read_json
from latentbalance.verdict.evaluation import write_evaluation
from latentbalance.verdict.metrics import compute_metrics


def test_every_file_agrees_with_the_predicted_probabilities(tmp_path):
    labels = np.repeat(np.arange(3), [6, 3, 2])
    dataset = ImageDataset(
        np.zeros((len(labels), 1, 4, 4), np.uint8), labels, ["cat", "dog", "owl"]
    )
    indices = np.array([0, 1, 2, 6, 7, 9, 10])  # a test set: some images of each class
    predicted = np.array([0, 0, 1, 1, 2, 2, 0])
    probabilities = np.full((len(indices), 3), 0.1, dtype=np.float32)
    probabilities[np.arange(len(indices)), predicted] = 0.8
    spec = {"method": "smote-ae", "arch": "resnet18", "environment": {"torch": "x"}}
    how = {"test_time_flip": False, "logit_adjustment": 0.0, "environment": {"torch": "y"}}
    files = ["metrics.json", "per_class.csv", "confusion.png", "confusion_table.csv"]
    files += ["predictions.csv", "prediction_grid.png"]
    out = {file.split(".")[0]: tmp_path / file for file in files}
    returned = write_evaluation(dataset, spec, 1, "test", indices, probabilities, how, out)

    metrics = read_json(out["metrics"])
    assert metrics == returned
    assert metrics | {"environment": None} == {
        "method": "smote-ae",
        "classifier": "resnet18",
        "fold": 1,
        "testset": "test",
        "n_images": 7,
        "test_time_flip": False,
        "logit_adjustment": 0.0,
        "environment": None,
    } | compute_metrics(labels[indices], predicted, 3)
    assert metrics["environment"] == {"training": {"torch": "x"}, "evaluation": {"torch": "y"}}

    predictions = pd.read_csv(out["predictions"])
    assert predictions["index"].tolist() == indices.tolist()
    assert predictions["true"].tolist() == labels[indices].tolist()
    assert predictions["predicted"].tolist() == predicted.tolist()
    assert predictions[["p_cat", "p_dog", "p_owl"]].to_numpy() == pytest.approx(probabilities)

    table = pd.read_csv(out["confusion_table"])
    counts = table.pivot(index="true", columns="predicted", values="count")
    assert counts.loc["cat"].tolist() == [2, 1, 0] and counts.loc["owl"].tolist() == [1, 0, 1]
    per_class = pd.read_csv(out["per_class"])
    assert per_class["support"].tolist() == [3, 2, 2]
    assert per_class["recall"].tolist() == pytest.approx([2 / 3, 1 / 2, 1 / 2])
    assert out["confusion"].stat().st_size > 0 and out["prediction_grid"].stat().st_size > 0
