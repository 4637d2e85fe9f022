"""The figures: the grid of right and wrong test images."""

import numpy as np
from PIL import Image

from latentbalance.verdict.plots import plot_prediction_grid, prediction_grid_positions


def test_prediction_grid_shows_every_two_class_test_image_and_marks_the_wrong(tmp_path):
    y_true = np.array([0] * 30 + [1] * 8)
    y_pred = y_true.copy()
    y_pred[[3, 31, 32]] = 1 - y_pred[[3, 31, 32]]
    assert len(prediction_grid_positions(y_true, y_pred, 2)) == 38
    # over the cap: every wrong one is still shown
    assert {3, 31, 32} <= set(prediction_grid_positions(y_true, y_pred, 2, cap=5))
    # more classes: a few right and the wrong ones per class
    many = np.repeat(np.arange(5), 10)
    shown = prediction_grid_positions(many, np.roll(many, 3), 5, per_class=2)
    assert len(shown) == 5 * 4
    images = np.random.default_rng(0).integers(0, 256, (38, 3, 16, 16), dtype=np.uint8)
    plot_prediction_grid(images, y_true, y_pred, ["good", "defect"], "t", tmp_path / "grid.png")
    assert Image.open(tmp_path / "grid.png").size[0] > 600
    grey = np.zeros((50, 1, 8, 8), dtype=np.uint8)
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
    plot_prediction_grid(grey, many, np.roll(many, 3), names, "t", tmp_path / "grid5.png")
    assert Image.open(tmp_path / "grid5.png").size[1] > 300  # 20 images: two rows of ten
