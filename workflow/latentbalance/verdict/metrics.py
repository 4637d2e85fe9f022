"""Classification metrics for imbalanced data (scikit-learn and imbalanced-learn definitions).

- accuracy
- acsa: average class-specific accuracy = balanced accuracy = mean per-class recall
- macro_f1
- gmean_multiclass: geometric mean of the per-class recalls (``average='multiclass'``)
- gmean_macro: imbalanced-learn's ``average='macro'``: sqrt(mean one-vs-rest sensitivity *
  mean one-vs-rest specificity) (what the DeepSMOTE tables report as GM)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from imblearn.metrics import classification_report_imbalanced, geometric_mean_score
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

from ..settings.schema import allowed

# the scores of every evaluation, in the order of the summary tables
METRICS = allowed("summary.metric")


def _balanced_accuracy(y_true, y_pred, labels) -> float:
    # sklearn's balanced_accuracy_score averages over the classes present in y_true; a class absent
    # from a test set would otherwise be dropped silently, so require all of them
    present = np.unique(y_true)
    if len(present) != len(labels):
        missing = sorted(set(labels) - set(present.tolist()))
        raise ValueError(f"test set has no images of classes {missing}; ACSA would ignore them")
    return float(balanced_accuracy_score(y_true, y_pred))


def compute_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict[str, float]:
    labels = list(range(n_classes))
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "acsa": _balanced_accuracy(y_true, y_pred, labels),
        "macro_f1": float(
            f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)
        ),
        "gmean_multiclass": float(
            geometric_mean_score(y_true, y_pred, labels=labels, average="multiclass")
        ),
        "gmean_macro": float(geometric_mean_score(y_true, y_pred, labels=labels, average="macro")),
    }


def per_class_report(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: list[str]
) -> pd.DataFrame:
    """Precision, recall, specificity, F1, G-mean and support per class (imbalanced-learn)."""
    labels = list(range(len(class_names)))
    report = classification_report_imbalanced(
        y_true,
        y_pred,
        labels=labels,
        target_names=class_names,
        output_dict=True,
        zero_division=0,
    )
    rows = [{"class": name, **report[name]} for name in class_names]
    return pd.DataFrame(rows).rename(
        columns={
            "pre": "precision",
            "rec": "recall",
            "spe": "specificity",
            "sup": "support",
            "geo": "gmean",
            "iba": "iba",
        }
    )


def confusion(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    return confusion_matrix(y_true, y_pred, labels=list(range(n_classes)))


def confusion_table(matrix: np.ndarray, class_names: list[str]) -> pd.DataFrame:
    """The confusion matrix in long form: true class, predicted class, count, and the share of
    the true class's images (the row-normalised matrix; rows of an absent class are 0)."""
    rows = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0)
    n = len(class_names)
    return pd.DataFrame(
        {
            "true": np.repeat(class_names, n),
            "predicted": np.tile(class_names, n),
            "count": matrix.ravel(),
            "row_share": shares.ravel(),
        }
    )
