"""Figures: confusion matrices, real-vs-synthetic grids, training curves, leaderboard bars.

seaborn is imported by the figures that use it: it imports SciPy (1.6 s), which the training jobs,
drawing only their loss curves, do not need."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..io import atomic_path  # noqa: E402


def _save(fig, path) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def plot_confusion(matrix: np.ndarray, class_names: list[str], title: str, path) -> None:
    """Counts annotated, colours row-normalised (recall), so minority rows stay readable."""
    import seaborn as sns

    rows = matrix.sum(axis=1, keepdims=True)
    normalised = np.divide(matrix, rows, out=np.zeros_like(matrix, dtype=float), where=rows > 0)
    size = max(4.0, 0.55 * len(class_names) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    sns.heatmap(
        normalised,
        annot=matrix,
        fmt="d",
        cmap="Blues",
        vmin=0,
        vmax=1,
        square=True,
        xticklabels=class_names,
        yticklabels=class_names,
        cbar_kws={"label": "row share"},
        ax=ax,
    )
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    _save(fig, path)


def _rgb(image: np.ndarray) -> np.ndarray:
    """(C, H, W) uint8, grey or colour -> (H, W, 3) for a colour canvas."""
    pixels = np.transpose(image, (1, 2, 0))
    return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels[..., :3]


def _show_canvas(canvas: np.ndarray, width_inches: float, extra_height: float = 0.0):
    """One axes showing ``canvas`` pixel for pixel: the grids are drawn as one image, because
    a matplotlib axes per thumbnail made each grid cost seconds (tens of axes to lay out)."""
    height, width = canvas.shape[:2]
    fig, ax = plt.subplots(figsize=(width_inches, width_inches * height / width + extra_height))
    ax.imshow(canvas, interpolation="nearest")
    ax.set_axis_off()
    return fig, ax


def plot_real_vs_synthetic(
    real: np.ndarray,
    real_labels: np.ndarray,
    synthetic: np.ndarray,
    synthetic_labels: np.ndarray,
    class_names: list[str],
    title: str,
    path,
    per_row: int = 6,
) -> None:
    """One row per class: real images on the left, synthetic ones on the right."""
    height, width = real.shape[2:]
    gap = max(2, height // 7)
    cell_h, cell_w = height + gap, width + gap
    middle = 2 * cell_w  # between the real and the synthetic half
    canvas = np.full(
        (len(class_names) * cell_h + gap, 2 * per_row * cell_w + middle, 3), 255, np.uint8
    )
    fig, ax = _show_canvas(canvas, 2 * per_row * 0.8, extra_height=0.4)
    for cls, name in enumerate(class_names):
        top = gap + cls * cell_h
        groups = (real[real_labels == cls], synthetic[synthetic_labels == cls])
        for half, group in enumerate(groups):
            for j, image in enumerate(group[:per_row]):
                left = half * (per_row * cell_w + middle) + j * cell_w
                canvas[top : top + height, left : left + width] = _rgb(image)
        ax.text(-gap, top + height / 2, name, ha="right", va="center", fontsize=8)
    for half, label in enumerate(("real", "synthetic")):
        ax.text(half * (per_row * cell_w + middle), -gap, label, va="bottom", fontsize=9)
    ax.images[0].set_data(canvas)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def plot_history(history: pd.DataFrame, columns: list[str], title: str, path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for column in columns:
        ax.plot(history["epoch"], history[column], marker="o", label=column)
    ax.set_xlabel("epoch")
    ax.set_title(title)
    ax.legend()
    _save(fig, path)


def plot_leaderboard(per_fold: pd.DataFrame, metrics: list[str], title: str, path) -> None:
    """Bars of mean over folds with sd error bars: one group per metric, one bar per model, one
    panel per test set."""
    import seaborn as sns

    data = per_fold.melt(
        id_vars=["model", "testset"], value_vars=metrics, var_name="metric", value_name="score"
    )
    grid = sns.catplot(
        data=data,
        kind="bar",
        x="metric",
        y="score",
        hue="model",
        row="testset",
        errorbar="sd",
        height=3.5,
        aspect=2.2,
        capsize=0.08,
    )
    grid.set(ylim=(0, 1), xlabel="", ylabel="score (mean ± sd over folds)")
    grid.figure.suptitle(title, y=1.03)
    _save(grid.figure, path)


def prediction_grid_positions(
    y_true: np.ndarray, y_pred: np.ndarray, n_classes: int, cap: int = 60, per_class: int = 4
) -> np.ndarray:
    """Which test images a prediction grid shows: for two classes every image up to ``cap``
    (wrong ones first when there are more); otherwise up to ``per_class`` right and as many wrong
    ones of each true class."""
    wrong = y_true != y_pred
    if n_classes == 2:
        order = np.concatenate([np.flatnonzero(wrong), np.flatnonzero(~wrong)])[:cap]
        return np.sort(order)
    chosen = []
    for cls in range(n_classes):
        for is_wrong in (False, True):
            chosen.extend(np.flatnonzero((y_true == cls) & (wrong == is_wrong))[:per_class])
    return np.array(chosen, dtype=np.int64)


def plot_prediction_grid(
    images: np.ndarray,
    y_true: np.ndarray,
    y_pred: np.ndarray,
    class_names: list[str],
    title: str,
    path,
    columns: int = 10,
) -> None:
    """Test images with their true and predicted class; wrong predictions framed in red."""
    shown = prediction_grid_positions(y_true, y_pred, len(class_names))
    rows = max(1, -(-len(shown) // columns))
    height, width = images.shape[2:]
    thin, thick = max(1, height // 28), max(2, height // 9)  # frames: right, wrong
    band, gap = int(0.8 * height), max(2, height // 7)  # room for two lines of label; spacing
    cell_h, cell_w = band + height + 2 * thick + gap, width + 2 * thick + gap
    canvas = np.full((rows * cell_h, columns * cell_w, 3), 255, np.uint8)
    fig, ax = _show_canvas(canvas, columns * 1.1, extra_height=0.6)
    colours = {True: (44, 160, 44), False: (214, 39, 40)}  # tab:green, tab:red
    for k, position in enumerate(shown):
        top, left = (k // columns) * cell_h + band, (k % columns) * cell_w
        right = bool(y_true[position] == y_pred[position])
        frame = thin if right else thick
        outer = thick - frame  # frames of either width surround the image alike
        canvas[
            top + outer : top + 2 * thick + height - outer,
            left + outer : left + 2 * thick + width - outer,
        ] = colours[right]
        canvas[top + thick : top + thick + height, left + thick : left + thick + width] = _rgb(
            images[position]
        )
        label = class_names[y_true[position]]
        if not right:
            label += f"\n→ {class_names[y_pred[position]]}"
        colour = "tab:green" if right else "tab:red"
        ax.text(
            left + thick + width / 2, top, label, ha="center", va="bottom", fontsize=6, color=colour
        )
    ax.images[0].set_data(canvas)
    n_wrong = int((y_true != y_pred).sum())
    fig.suptitle(
        f"{title}\n{len(shown)} of {len(y_true)} test images, {n_wrong} wrong "
        "(red: true → predicted)",
        fontsize=9,
    )
    _save(fig, path)


def plot_class_counts(counts: pd.DataFrame, path) -> None:
    """Images per class in each part of the split (log scale: the minority classes stay visible)."""
    import seaborn as sns

    data = counts.melt(id_vars="class", var_name="part", value_name="images")
    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(counts) + 2), 3.5))
    sns.barplot(data=data, x="class", y="images", hue="part", ax=ax)
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_ylabel("images (log scale)")
    sns.move_legend(ax, "upper left", bbox_to_anchor=(1, 1))
    ax.set_title("images per class: imbalanced training pool and test sets")
    ax.tick_params(axis="x", rotation=45 if len(counts) > 10 else 0)
    _save(fig, path)


def plot_critical_differences(results: dict, metric: str, alpha: float, title: str, path) -> None:
    """One critical-difference diagram per test set (scikit-posthocs): mean rank of each model
    over folds (1 = best); models joined by a bar are not significantly different (Nemenyi after
    Friedman with 3+ models; with 2, the summary's two-test decision)."""
    import scikit_posthocs as sp

    fig, axes = plt.subplots(len(results), 1, figsize=(7, 1.9 * len(results)), squeeze=False)
    for ax, (testset, result) in zip(axes[:, 0], results.items(), strict=True):
        ranks = result["ranks"]
        if result["nemenyi"] is not None:
            p_values = result["nemenyi"]
        else:
            p_values = pd.DataFrame(1.0, index=ranks.index, columns=ranks.index)
            # two models: the bar follows the summary's decision (corrected t and bootstrap
            # agree), drawn as p 0 (no bar) or 1 (bar)
            for _, row in result["against"].iterrows():
                p = 0.0 if row["significant"] else 1.0
                p_values.loc[row["reference"], row["model"]] = p_values.loc[
                    row["model"], row["reference"]
                ] = p
        if len(ranks) < 2:
            ax.text(0.5, 0.5, f"{testset}: a single model", ha="center", transform=ax.transAxes)
            ax.axis("off")
            continue
        sp.critical_difference_diagram(ranks, p_values, ax=ax, alpha=alpha)
        ax.set_title(
            f"{testset}: {result['friedman']['n_blocks']} folds"
            + (
                f", Nemenyi CD = {result['critical_difference']:.2f}"
                if result["nemenyi"] is not None
                else ", bar = not significant (corrected t and bootstrap)"
            ),
            fontsize=9,
        )
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)


def plot_training_curves(histories: pd.DataFrame, title: str, path) -> None:
    """Validation loss and accuracy per epoch of every classifier, one line per model and fold."""
    import seaborn as sns

    if histories.empty:
        fig, ax = plt.subplots(figsize=(4, 2))
        ax.text(0.5, 0.5, "no training histories", ha="center")
        ax.axis("off")
        _save(fig, path)
        return
    data = histories.melt(
        id_vars=["epoch", "fold", "model"],
        value_vars=["train_loss", "val_loss", "val_accuracy"],
        var_name="curve",
        value_name="value",
    )
    grid = sns.relplot(
        data=data,
        kind="line",
        x="epoch",
        y="value",
        hue="model",
        units="fold",
        estimator=None,
        col="curve",
        facet_kws={"sharey": False},
        height=3,
        aspect=1.2,
        marker="o",
    )
    grid.set_titles("{col_name}")
    grid.figure.suptitle(title + " (one line per fold)", y=1.04)
    _save(grid.figure, path)
