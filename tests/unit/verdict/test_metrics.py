import math

import numpy as np
import pytest

from latentbalance.verdict.metrics import (
    compute_metrics,
    confusion,
    confusion_table,
    per_class_report,
)


def test_metrics_match_hand_computed_values():
    # confusion [[3, 1], [1, 1]]: recalls 3/4 and 1/2
    y_true = np.array([0, 0, 0, 0, 1, 1])
    y_pred = np.array([0, 0, 0, 1, 1, 0])
    m = compute_metrics(y_true, y_pred, 2)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["acsa"] == pytest.approx((3 / 4 + 1 / 2) / 2)
    f1_0 = 2 * (3 / 4) * (3 / 4) / (3 / 4 + 3 / 4)
    f1_1 = 2 * (1 / 2) * (1 / 2) / (1 / 2 + 1 / 2)
    assert m["macro_f1"] == pytest.approx((f1_0 + f1_1) / 2)
    assert m["gmean_multiclass"] == pytest.approx(math.sqrt(3 / 4 * 1 / 2))
    # imbalanced-learn's macro: sqrt(mean one-vs-rest sensitivity * mean specificity);
    # class 0: sens 3/4, spec 1/2; class 1: sens 1/2, spec 3/4
    assert m["gmean_macro"] == pytest.approx(math.sqrt((5 / 8) * (5 / 8)))


def test_a_class_never_predicted_zeroes_the_multiclass_gmean():
    y_true = np.array([0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 1, 1, 1, 1])
    m = compute_metrics(y_true, y_pred, 3)
    assert m["acsa"] == pytest.approx(2 / 3)
    assert m["gmean_multiclass"] == pytest.approx(0.0)
    # sensitivities 1, 1, 0; specificities 1, 2/4, 1
    assert m["gmean_macro"] == pytest.approx(math.sqrt((2 / 3) * (2.5 / 3)))
    # F1 of class 2 is 0, precision of class 1 is 1/2
    assert m["macro_f1"] == pytest.approx((1 + 2 * 0.5 * 1 / 1.5 + 0) / 3)
    report = per_class_report(y_true, y_pred, ["a", "b", "c"])
    assert report.set_index("class").loc["c", "recall"] == 0
    assert report.set_index("class").loc["b", "precision"] == pytest.approx(0.5)
    assert confusion(y_true, y_pred, 3).tolist() == [[2, 0, 0], [0, 2, 0], [0, 2, 0]]


def test_a_test_set_missing_a_class_is_an_error():
    with pytest.raises(ValueError, match="no images of classes"):
        compute_metrics(np.array([0, 0, 1]), np.array([0, 1, 1]), 3)


def test_confusion_table_has_counts_and_row_shares_with_a_class_never_predicted():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 1, 1, 0, 1])  # class 2 is never predicted
    table = confusion_table(confusion(y_true, y_pred, 3), ["a", "b", "c"]).set_index(
        ["true", "predicted"]
    )
    assert table.loc[("c", "b"), "count"] == 3
    assert table.loc[("c", "b"), "row_share"] == pytest.approx(3 / 4)
    assert table.loc[("a", "a"), "row_share"] == pytest.approx(1 / 2)
    assert table.xs("c", level="predicted")["count"].sum() == 0
    m = compute_metrics(y_true, y_pred, 3)
    assert m["acsa"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert m["gmean_multiclass"] == 0
    report = per_class_report(y_true, y_pred, ["a", "b", "c"]).set_index("class")
    # class c: never predicted -> precision 0 (zero_division), recall 0, specificity 1
    assert report.loc["c", ["precision", "recall", "specificity"]].tolist() == [0, 0, 1]
    # class b: 2 of 6 predicted b are b; specificity = 2 of the 6 non-b images not called b
    assert report.loc["b", "precision"] == pytest.approx(2 / 6)
    assert report.loc["b", "specificity"] == pytest.approx(2 / 6)
