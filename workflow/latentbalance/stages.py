"""The steps that train and run networks, one function per rule (data preparation is in
``prepare``, the summary in ``summary``). The Snakemake scripts only unpack ``snakemake`` and call
these.

scikit-learn and imbalanced-learn are imported inside the steps that use them: with SciPy they
take 3-4 s to import, paid by every training job otherwise."""

from __future__ import annotations

import hashlib
import json
import logging
import zlib

import numpy as np
import pandas as pd
import torch

from . import plots
from .autoencoders import build_autoencoder
from .classifiers import build_resnet
from .datasets import ImageDataset
from .environment import environment
from .io import atomic_path, write_csv, write_json
from .methods import parse_method
from .splits import fold_indices, test_indices
from .training import (
    INPUT_SCALING,
    EpochCheckpoint,
    Precision,
    augmentation,
    batch_mixing,
    fit_autoencoder,
    fit_classifier,
    logit_adjusted,
    predict_proba,
    run_in_batches,
    seed_everything,
    select_device,
    stratified_holdout,
    to_uint8,
    to_unit_range,
)

log = logging.getLogger(__name__)


def stage_seed(seed: int, *parts) -> int:
    """A seed for one job, derived from the config seed and the job's identity."""
    words = [seed] + [zlib.crc32(str(p).encode()) for p in parts]
    return int(np.random.SeedSequence(words).generate_state(1)[0])


def job_settings(arguments: dict) -> dict:
    """The settings among a stage function's arguments: everything but file paths."""
    return {
        name: value
        for name, value in arguments.items()
        if not (name.endswith("_path") or name.startswith("out_") or name == "checkpoint")
    }


def job_fingerprint(settings: dict, *arrays: np.ndarray) -> str:
    """A digest of a training job's settings and training data, so that a resume checkpoint is
    only ever used by the job that wrote it."""
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def save_model(path, model: torch.nn.Module, spec: dict) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"spec": spec, "state_dict": state}, tmp)


def load_checkpoint(path) -> dict:
    """A saved model: its spec and weights. ``weights_only``: a tampered file cannot execute code
    when loaded, it is refused."""
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:
        raise ValueError(
            f"{path} is not a model file latentbalance can load safely ({type(error).__name__}: "
            f"{str(error).splitlines()[0]}). It is damaged (truncated copy, full disk) or was "
            "not written by latentbalance; delete it and rerun Snakemake to retrain it."
        ) from error
    if not isinstance(checkpoint, dict) or not {"spec", "state_dict"} <= checkpoint.keys():
        raise ValueError(
            f"{path} holds no latentbalance model (expected 'spec' and 'state_dict'); "
            "delete it and rerun Snakemake to retrain it."
        )
    return checkpoint


# --- autoencoder ------------------------------------------------------------------------------


def latent_size(latent_dim, channels: int) -> int:
    """DeepSMOTE's sizes unless configured: 300 for 1-channel, 600 for 3-channel images."""
    return int(latent_dim) if latent_dim else (300 if channels == 1 else 600)


def train_autoencoder(
    images_path,
    split_path,
    folds_path,
    fold: int,
    kind: str,
    latent_dim,
    width: int,
    epochs: int,
    batch_size: int,
    lr: float,
    val_fraction: float,
    loss_weights: dict,
    penalty: dict | None,
    seed: int,
    device: str,
    precision: str,
    checkpoint,
    out_model,
    out_history,
    out_curve,
) -> None:
    """Train one autoencoder on the fold's training images (``penalty``: None, or DeepSMOTE's
    permutation penalty as ``{"kind": "paper" | "official", "weight": lambda}``). ``checkpoint``
    is where the training state is kept between epochs, to resume after a kill."""
    settings = job_settings(locals())
    dataset = ImageDataset.load(images_path)
    train = fold_indices(split_path, folds_path, fold)["train"]
    fit_pos, val_pos = stratified_holdout(
        dataset.labels[train], val_fraction, stage_seed(seed, fold, "autoencoder-holdout")
    )
    images, labels = to_unit_range(dataset.images[train]), torch.from_numpy(dataset.labels[train])
    generator = seed_everything(stage_seed(seed, fold, "autoencoder", kind, bool(penalty)))
    channels, *image_size = dataset.image_shape
    model = build_autoencoder(kind, channels, image_size, latent_size(latent_dim, channels), width)
    run_device = select_device(device)
    run_precision = Precision(run_device, precision)
    resume = EpochCheckpoint(
        checkpoint, job_fingerprint(settings, dataset.images[train], dataset.labels[train])
    )
    model, history = fit_autoencoder(
        model,
        images[fit_pos],
        labels[fit_pos],
        images[val_pos],
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        loss_weights=loss_weights,
        penalty=penalty,
        generator=generator,
        device=run_device,
        precision=run_precision,
        checkpoint=resume,
        desc=f"{kind} fold {fold}",
    )
    history = pd.DataFrame(history)
    spec = {
        **model.spec(),
        "penalty": penalty,
        "environment": environment(run_device, run_precision),
    }
    save_model(out_model, model, spec)
    write_csv(history, out_history)
    terms = [c for c in history.columns if c.startswith("train_") and c != "train_loss"]
    title = f"{kind}{' + penalty' if penalty else ''}, fold {fold}"
    plots.plot_history(history, [*terms, "val_mse"], title, out_curve)
    resume.discard()


def load_autoencoder(path):
    checkpoint = load_checkpoint(path)
    spec = checkpoint["spec"]
    model = build_autoencoder(
        spec["kind"], spec["in_channels"], spec["image_size"], spec["latent_dim"], spec["width"]
    )
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval()


# --- oversampling -----------------------------------------------------------------------------


def oversample(
    images_path,
    split_path,
    folds_path,
    fold: int,
    method_id: str,
    autoencoder_path,
    k_neighbors: int,
    target,
    strict: bool,
    synthetic_share: float,
    batch_size: int,
    seed: int,
    device: str,
    precision: str,
    out_balanced,
    out_info,
    out_grid,
    out_check,
) -> None:
    """Balance one fold's training part with ``method_id``; write the synthetic images (and, with
    ``synthetic_share`` < 1, which real images are repeated), the per-class counts, a grid of real
    beside synthetic images and the synthetic-sample check (nearest real image distances, see
    ``synthetic_check``)."""
    from .sampling import balance, real_repeats
    from .synthetic_check import nearest_neighbour_check

    method = parse_method(method_id)
    dataset = ImageDataset.load(images_path)
    train = fold_indices(split_path, folds_path, fold)["train"]
    images, labels = dataset.images[train], dataset.labels[train]
    seed_everything(stage_seed(seed, fold, "oversample", method_id))
    sample_seed = stage_seed(seed, fold, "sampler", method_id)

    if method.autoencoder:
        run_device = select_device(device)
        run_precision = Precision(run_device, precision)
        model = run_precision.prepare(load_autoencoder(autoencoder_path).to(run_device))
        latents = run_in_batches(
            model.encode, to_unit_range(images), batch_size, run_device, run_precision
        ).numpy()
        new_latents, new_labels, info = balance(
            latents, labels, method.sampler, k_neighbors, sample_seed, target, strict,
            synthetic_share,
        )  # fmt: skip
        decoded = run_in_batches(
            model.decode, torch.from_numpy(new_latents), batch_size, run_device, run_precision
        )
        new_images = to_uint8(decoded)
    else:
        flat = images.reshape(len(images), -1).astype(np.float32)
        new_flat, new_labels, info = balance(
            flat, labels, method.sampler, k_neighbors, sample_seed, target, strict, synthetic_share
        )
        new_images = new_flat.round().clip(0, 255).astype(np.uint8).reshape(-1, *images.shape[1:])

    repeats = real_repeats(labels, target, synthetic_share, sample_seed)
    repeated = np.bincount(labels[repeats], minlength=len(info))
    for cls, entry in info.items():
        entry["repeated"] = int(repeated[cls])

    with atomic_path(out_balanced) as tmp, open(tmp, "wb") as handle:
        np.savez_compressed(
            handle,
            real_indices=train,
            repeated_indices=train[repeats],
            synthetic_images=new_images,
            synthetic_labels=new_labels,
        )
    write_json(
        out_info,
        {
            "method": method_id,
            "fold": fold,
            "per_class": {dataset.class_names[c]: entry for c, entry in info.items()},
        },
    )
    plots.plot_real_vs_synthetic(
        images,
        labels,
        new_images,
        new_labels,
        dataset.class_names,
        f"{method_id}, fold {fold}",
        out_grid,
    )
    check = nearest_neighbour_check(images, labels, new_images, new_labels, dataset.class_names)
    write_json(out_check, {"method": method_id, "fold": fold, **check})


def training_set(dataset: ImageDataset, train: np.ndarray, balanced_path):
    """The fold's real training images plus, for generating methods, the real images it repeats
    (``sampler.synthetic_share`` < 1) and its synthetic images. ``source`` is the dataset index
    of each real image and repeat (-1 for a synthetic one), so that a validation split can keep
    an image's repeats out of fitting; the fold's own images come first, once each.

    Returns (images, labels, source)."""
    images, labels, source = dataset.images[train], dataset.labels[train], train
    if balanced_path:
        with np.load(balanced_path, allow_pickle=False) as balanced:
            if not np.array_equal(balanced["real_indices"], train):
                raise ValueError(f"{balanced_path} was made for another fold; rerun oversample")
            # balanced sets written before sampler.synthetic_share have no repeats
            repeated = balanced.get("repeated_indices", np.empty(0, np.int64))
            synthetic_labels = balanced["synthetic_labels"]
            images = np.concatenate(
                [images, dataset.images[repeated], balanced["synthetic_images"]]
            )
            labels = np.concatenate([labels, dataset.labels[repeated], synthetic_labels])
            source = np.concatenate([train, repeated, np.full(len(synthetic_labels), -1)])
    return images, labels, source


def validation_split(labels, source, n_real: int, fraction: float, validation: str, seed: int):
    """Stratified (fit, validation) positions: ``balanced`` draws validation from the whole
    balanced set (the seed's protocol); ``real`` only from the first ``n_real`` (the fold's real
    images, once each) and fits on the rest but those images' repeats, so that early stopping
    judges on real images the classifier has not seen (every synthetic image is fitted on)."""
    if validation == "balanced":
        return stratified_holdout(labels, fraction, seed)
    if validation != "real":
        raise ValueError(f"unknown validation {validation!r}; choose balanced or real")
    _, val = stratified_holdout(labels[:n_real], fraction, seed)
    fit = np.flatnonzero(~np.isin(source, source[val]))
    return fit, val


# --- classifier -------------------------------------------------------------------------------


def train_classifier(
    images_path,
    split_path,
    folds_path,
    fold: int,
    method_id: str,
    balanced_path,
    arch: str,
    stem: str,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    optimizer: str,
    schedule: str,
    patience: int,
    augment: dict,
    val_fraction: float,
    validation: str,
    seed: int,
    device: str,
    precision: str,
    checkpoint,
    out_model,
    out_history,
    out_curve,
) -> None:
    """Train one classifier on the fold's (balanced) training set; ``checkpoint`` is where the
    training state is kept between epochs, to resume after a kill."""
    settings = job_settings(locals())
    method = parse_method(method_id)
    dataset = ImageDataset.load(images_path)
    train = fold_indices(split_path, folds_path, fold)["train"]
    images, labels, source = training_set(dataset, train, balanced_path)
    fit_pos, val_pos = validation_split(
        labels,
        source,
        len(train),
        val_fraction,
        validation,
        stage_seed(seed, fold, "classifier-holdout"),
    )
    class_weights = None
    if method.class_weighted:
        from sklearn.utils.class_weight import compute_class_weight

        weights = compute_class_weight(
            "balanced", classes=np.arange(dataset.n_classes), y=labels[fit_pos]
        )
        class_weights = torch.tensor(weights, dtype=torch.float32)
    x, y = to_unit_range(images), torch.from_numpy(labels)
    # the same seed for every method of a fold: all classifiers start from the same weights
    generator = seed_everything(stage_seed(seed, fold, "classifier", arch))
    channels, height, width = dataset.image_shape
    model = build_resnet(arch, channels, dataset.n_classes, stem)
    run_device = select_device(device)
    run_precision = Precision(run_device, precision)
    resume = EpochCheckpoint(checkpoint, job_fingerprint(settings, images, labels))
    model, history = fit_classifier(
        model,
        x[fit_pos],
        y[fit_pos],
        x[val_pos],
        y[val_pos],
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        optimizer_name=optimizer,
        schedule=schedule,
        patience=patience,
        class_weights=class_weights,
        generator=generator,
        device=run_device,
        precision=run_precision,
        augment=augmentation(augment["crop_padding"], augment["flip"], (height, width)),
        mix=batch_mixing(
            augment.get("mix", "none"), augment.get("mix_alpha", 1.0), dataset.n_classes
        ),
        checkpoint=resume,
        desc=f"{method_id} {arch} fold {fold}",
    )
    history = pd.DataFrame(history)
    spec = {
        "arch": arch,
        "stem": stem,
        "in_channels": channels,
        "image_size": [height, width],
        "n_classes": dataset.n_classes,
        "class_names": dataset.class_names,
        "method": method_id,
        "fold": fold,
        "input_scaling": INPUT_SCALING,
        # the class prior the classifier learned, for logit adjustment at evaluation
        "fit_counts": np.bincount(labels[fit_pos], minlength=dataset.n_classes).tolist(),
        "class_weighted": method.class_weighted,
        "environment": environment(run_device, run_precision),
    }
    save_model(out_model, model, spec)
    write_csv(history, out_history)
    plots.plot_history(
        history, ["train_loss", "val_loss"], f"{method_id} {arch} fold {fold}", out_curve
    )
    resume.discard()


def load_classifier(path):
    checkpoint = load_checkpoint(path)
    spec = checkpoint["spec"]
    model = build_resnet(spec["arch"], spec["in_channels"], spec["n_classes"], spec["stem"])
    model.load_state_dict(checkpoint["state_dict"])
    return model.eval(), spec


def training_prior(spec: dict, model_path) -> np.ndarray:
    """The class prior a saved classifier was fitted under: its fit set's class shares, uniform
    for a class-weighted loss (which already weighs the classes equally)."""
    if "fit_counts" not in spec:
        raise ValueError(
            f"{model_path} predates logit adjustment (its training counts are not recorded): "
            "retrain it, or evaluate it without (classifier.logit_adjustment: 0; the CLI "
            "without --logit-adjustment)"
        )
    counts = np.asarray(spec["fit_counts"], dtype=float)
    if spec.get("class_weighted"):
        counts = (counts > 0).astype(float)
    # a class the classifier never saw gets the rarest seen class's prior, not an infinite boost
    counts = np.maximum(counts, counts[counts > 0].min())
    return counts / counts.sum()


# --- evaluation -------------------------------------------------------------------------------


def evaluate(
    images_path,
    split_path,
    folds_path,
    fold: int,
    testsets: list[str],
    model_path,
    batch_size: int,
    device: str,
    precision: str,
    test_time_flip: bool,
    out_metrics: list,
    out_per_class: list,
    out_confusion: list,
    out_predictions: list,
    out_prediction_grid: list | None = None,
    out_confusion_table: list | None = None,
    logit_adjustment: float = 0.0,
) -> list[dict]:
    """Classify the test sets with a saved classifier; for each (the ``out_*`` lists follow
    ``testsets``) write its metrics (with the environment of training and evaluation), per-class
    report, confusion matrix (figure, and table of counts and row shares), predictions and the grid
    of right and wrong test images. The model and data are loaded once. With
    ``logit_adjustment`` (tau > 0) the probabilities are divided by the classifier's training
    prior to that power before anything is scored or written. Returns the metrics of each test
    set."""
    dataset = ImageDataset.load(images_path)
    wanted = {testset: test_indices(split_path, folds_path, fold, testset) for testset in testsets}
    model, spec = load_classifier(model_path)
    check_compatible(spec, dataset, model_path, images_path)
    prior = training_prior(spec, model_path) if logit_adjustment else None
    run_device = select_device(device)
    run_precision = Precision(run_device, precision)
    evaluation_environment = environment(run_device, run_precision)
    results = []
    for i, (testset, indices) in enumerate(wanted.items()):
        # each test set classified on its own, in the same batches whatever else is configured:
        # batch composition moves the last bits of the probabilities
        probabilities = predict_proba(
            model,
            to_unit_range(dataset.images[indices]),
            batch_size,
            run_device,
            run_precision,
            test_time_flip,
        )
        if logit_adjustment:
            probabilities = logit_adjusted(probabilities, prior, logit_adjustment)
        results.append(
            write_evaluation(
                dataset,
                spec,
                fold,
                testset,
                indices,
                probabilities,
                evaluation_environment,
                out_metrics[i],
                out_per_class[i],
                out_confusion[i],
                out_predictions[i],
                out_prediction_grid[i] if out_prediction_grid else None,
                out_confusion_table[i] if out_confusion_table else None,
                test_time_flip,
                logit_adjustment,
            )
        )
    return results


def write_evaluation(
    dataset: ImageDataset,
    spec: dict,
    fold: int,
    testset: str,
    indices: np.ndarray,
    probabilities: np.ndarray,
    evaluation_environment: dict,
    out_metrics,
    out_per_class,
    out_confusion,
    out_predictions,
    out_prediction_grid,
    out_confusion_table,
    test_time_flip: bool = False,
    logit_adjustment: float = 0.0,
) -> dict:
    """Every output of one test set from its predicted class probabilities (and how they were
    made: averaged with each image's mirror, logit-adjusted; recorded beside the scores)."""
    from .metrics import compute_metrics, confusion, confusion_table, per_class_report

    y_true, y_pred = dataset.labels[indices], probabilities.argmax(1)
    scores = compute_metrics(y_true, y_pred, dataset.n_classes)
    metrics = {
        "method": spec["method"],
        "classifier": spec["arch"],
        "fold": fold,
        "testset": testset,
        "n_images": len(indices),
        "test_time_flip": test_time_flip,
        "logit_adjustment": logit_adjustment,
        **scores,
        "environment": {
            "training": spec.get("environment"),
            "evaluation": evaluation_environment,
        },
    }
    write_json(out_metrics, metrics)
    write_csv(per_class_report(y_true, y_pred, dataset.class_names), out_per_class)
    predictions = pd.DataFrame({"index": indices})
    if dataset.files is not None:  # folder datasets know each image's file
        predictions["file"] = [dataset.files[i] for i in indices]
    predictions["true"], predictions["predicted"] = y_true, y_pred
    for c, name in enumerate(dataset.class_names):
        predictions[f"p_{name}"] = probabilities[:, c]
    write_csv(predictions, out_predictions)
    matrix = confusion(y_true, y_pred, dataset.n_classes)
    if out_confusion_table:
        write_csv(confusion_table(matrix, dataset.class_names), out_confusion_table)
    title = (
        f"{spec['method']} / {spec['arch']}, fold {fold}, {testset}: "
        f"ACSA {scores['acsa']:.3f}, G-mean {scores['gmean_macro']:.3f}"
    )
    plots.plot_confusion(matrix, dataset.class_names, title, out_confusion)
    if out_prediction_grid:
        plots.plot_prediction_grid(
            dataset.images[indices], y_true, y_pred, dataset.class_names, title, out_prediction_grid
        )
    return metrics


def check_compatible(spec: dict, dataset: ImageDataset, model_path, images_path) -> None:
    """The classifier must have been trained on images of this shape and these classes."""
    channels, height, width = dataset.image_shape
    if [channels, height, width] != [spec["in_channels"], *spec["image_size"]]:
        raise ValueError(
            f"{model_path} was trained on {spec['in_channels']}x{spec['image_size']} images, "
            f"but {images_path} holds {channels}x{[height, width]} images"
        )
    if list(spec["class_names"]) != list(dataset.class_names):
        raise ValueError(
            f"{model_path} was trained on classes {spec['class_names']}, but {images_path} has "
            f"{dataset.class_names}"
        )
