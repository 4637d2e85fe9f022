"""What an evaluation writes for one test set: scores, per-class report, confusion matrix,
predictions and the grid of right and wrong test images."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..data.image_dataset import ImageDataset
from ..io import write_csv, write_json
from . import plots
from .metrics import compute_metrics, confusion, confusion_table, per_class_report


def write_evaluation(
    dataset: ImageDataset,
    spec: dict,
    fold: int,
    testset: str,
    indices: np.ndarray,
    probabilities: np.ndarray,
    how: dict,
    out: dict,
) -> dict:
    """Every output of one test set from its predicted class probabilities. ``how`` says how they
    were made (test-time flip, logit adjustment, the environment of evaluation) and is recorded
    beside the scores; ``out`` maps each output (metrics, per_class, confusion, confusion_table,
    predictions, prediction_grid) to its path. Returns the metrics."""
    y_true, y_pred = dataset.labels[indices], probabilities.argmax(1)
    scores = compute_metrics(y_true, y_pred, dataset.n_classes)
    metrics = {
        "method": spec["method"],
        "classifier": spec["arch"],
        "fold": fold,
        "testset": testset,
        "n_images": len(indices),
        "test_time_flip": how["test_time_flip"],
        "logit_adjustment": how["logit_adjustment"],
        **scores,
        "environment": {"training": spec["environment"], "evaluation": how["environment"]},
    }
    write_json(out["metrics"], metrics)
    write_csv(per_class_report(y_true, y_pred, dataset.class_names), out["per_class"])
    predictions = pd.DataFrame({"index": indices})
    if dataset.files is not None:  # folder datasets know each image's file
        predictions["file"] = [dataset.files[i] for i in indices]
    predictions["true"], predictions["predicted"] = y_true, y_pred
    for c, name in enumerate(dataset.class_names):
        predictions[f"p_{name}"] = probabilities[:, c]
    write_csv(predictions, out["predictions"])
    matrix = confusion(y_true, y_pred, dataset.n_classes)
    write_csv(confusion_table(matrix, dataset.class_names), out["confusion_table"])
    title = (
        f"{spec['method']} / {spec['arch']}, fold {fold}, {testset}: "
        f"ACSA {scores['acsa']:.3f}, G-mean {scores['gmean_macro']:.3f}"
    )
    plots.plot_confusion(matrix, dataset.class_names, title, out["confusion"])
    plots.plot_prediction_grid(
        dataset.images[indices], y_true, y_pred, dataset.class_names, title, out["prediction_grid"]
    )
    return metrics
