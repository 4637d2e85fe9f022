"""The steps that train and run networks, one function per rule (the data rules are in
``data.prepare``, the summary in ``verdict.summary``). The Snakemake scripts only unpack
``snakemake``, build the recipe from the rule's config block and call these. ``inputs`` and
``out`` map each input's and output's name in the rule to its path.

scikit-learn and imbalanced-learn are imported inside the steps that use them: with SciPy they
take 3-4 s to import, paid by every training job otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .data.image_dataset import ImageDataset, read_rows
from .data.splits import fold_indices, real_images_used, test_indices, training_set
from .io import atomic_path, write_csv, write_json
from .nets.autoencoders import build_autoencoder
from .nets.classifiers import build_classifier
from .nets.model_files import (
    check_compatible,
    check_scorable,
    load_classifier,
    save_model,
    training_prior,
)
from .nets.pretrained import WEIGHTS, imagenet_input, load_pretrained
from .rebalance.losses import fit_set_loss
from .rebalance.methods import LOSS_METHODS, parse_method
from .settings.recipes import (
    AutoencoderRecipe,
    ClassifierRecipe,
    Compute,
    EvaluationRecipe,
    HeadRecipe,
    LossRecipe,
    SamplerRecipe,
    latent_size,
)
from .training.checkpoint import job_checkpoint
from .training.environment import environment
from .training.loop import FitRun, fit_autoencoder, fit_classifier
from .training.out_of_memory import (
    autoencoder_advice,
    classifier_advice,
    explained_out_of_memory,
)
from .training.runtime import resolve, seed_everything, select_device, stage_seed
from .training.tensors import INPUT_SCALING
from .verdict import plots
from .verdict.prediction import logit_adjusted, predict_sets, scoring_precision


def save_fit(out: dict, model, spec: dict, history: list[dict]) -> pd.DataFrame:
    """Write a fitted network's model file (``out["model"]``) and its history, one row per epoch
    (``out["history"]``); returns the history as a table, for its curve."""
    save_model(out["model"], model, spec)
    history = pd.DataFrame(history)
    write_csv(history, out["history"])
    return history


def fold_training_data(inputs: dict, fold: int) -> tuple[ImageDataset, dict]:
    """The cached dataset (``inputs["images"]``) and the dataset indices of the fold's parts
    (``fit``, ``validation``, ...; from ``inputs["split"]`` and ``inputs["folds"]``)."""
    dataset = ImageDataset.load(inputs["images"])
    return dataset, fold_indices(inputs["split"], inputs["folds"], fold)


def train_autoencoder(
    inputs: dict,
    *,
    fold: int,
    kind: str,
    penalty: bool,
    recipe: AutoencoderRecipe,
    seed: int,
    compute: Compute,
    checkpoint,
    out: dict,
) -> None:
    """Train one autoencoder on the fold's fit images (epoch chosen on its validation images),
    with DeepSMOTE's penalty when ``penalty``; ``checkpoint``: where a killed job resumes."""
    dataset, parts = fold_training_data(inputs, fold)
    fit, validation = parts["fit"], parts["validation"]
    generator = seed_everything(stage_seed(seed, fold, "autoencoder", kind, penalty))
    channels, *image_size = dataset.image_shape
    model = build_autoencoder(
        kind, channels, image_size, latent_size(recipe.latent_dim, channels), recipe.width
    )
    device, precision = resolve(compute)
    job = {"fold": fold, "kind": kind, "penalty": penalty, "seed": seed, "recipe": recipe}
    resume = job_checkpoint(
        checkpoint, job, compute, precision, dataset.view(fit), dataset.labels[fit]
    )
    name = f"{kind}{'+penalty' if penalty else ''} fold {fold}"
    with explained_out_of_memory(
        f"train_autoencoder {name}", device, autoencoder_advice(recipe), checkpoint
    ):
        run = FitRun(generator, precision, resume, desc=f"{kind} fold {fold}")
        model, history = fit_autoencoder(
            model,
            # the images stay in the memory-mapped cache: each batch is read and made float alone
            dataset.view(fit),
            torch.from_numpy(dataset.labels[fit]),
            dataset.view(validation),
            recipe,
            run,
            penalty=penalty,
        )
    penalty_spec = (
        {"kind": recipe.penalty_kind, "weight": recipe.penalty_weight} if penalty else None
    )
    spec = {
        **model.spec(),
        "penalty": penalty_spec,
        "real_images": real_images_used(fit, validation),
        "environment": environment(device, precision),
    }
    history = save_fit(out, model, spec, history)
    terms = [c for c in history.columns if c.startswith("train_") and c != "train_loss"]
    title = f"{kind}{' + penalty' if penalty else ''}, fold {fold}"
    plots.plot_history(history, [*terms, "val_mse"], title, out["curve"])
    resume.discard()


def oversample(
    inputs: dict,
    *,
    fold: int,
    method_id: str,
    recipe: SamplerRecipe,
    batch_size: int,
    seed: int,
    compute: Compute,
    out: dict,
) -> None:
    """Balance one fold's training part with ``method_id``; write the synthetic images (and, with
    ``synthetic_share`` < 1, which real images are repeated), the per-class counts, a grid of real
    beside synthetic images and the synthetic-sample check (nearest real image distances, see
    ``synthetic_check``). ``batch_size``: the autoencoder's, for encoding and decoding."""
    from .rebalance import synthetic_check
    from .rebalance.sampling import balance
    from .rebalance.sampling_space import sampling_space, write_synthetic

    method = parse_method(method_id)
    dataset, parts = fold_training_data(inputs, fold)
    train = parts["fit"]  # the real images a method may copy or synthesise from
    # the fit images stay in the cache: read batch by batch, or per class for the grid and check
    images, labels = dataset.view(train), dataset.labels[train]
    seed_everything(stage_seed(seed, fold, "oversample", method_id))
    sample_seed = stage_seed(seed, fold, "sampler", method_id)
    features, to_images = sampling_space(
        method, images, inputs.get("autoencoder"), batch_size, compute
    )
    resampled = balance(features, labels, method.sampler, recipe, sample_seed)
    new_labels, copies = resampled.labels, resampled.sources
    del features  # the sampler's input; its output is what is decoded
    write_synthetic(out["synthetic"], resampled.features, to_images, images.shape[1:], batch_size)
    with atomic_path(out["balanced"]) as tmp, open(tmp, "wb") as handle:
        np.savez(
            handle,
            real_indices=train,
            repeated_indices=train[resampled.repeats],
            synthetic_labels=new_labels,
            # the real image (dataset index) each synthetic one copies, or its reconstruction; -1
            synthetic_sources=np.where(copies >= 0, train[np.maximum(copies, 0)], -1),
        )
    per_class = {dataset.class_names[c]: entry for c, entry in resampled.per_class.items()}
    write_json(out["info"], {"method": method_id, "fold": fold, "per_class": per_class})
    synthetic = np.load(out["synthetic"], mmap_mode="r")
    shown = synthetic_check.first_per_class(new_labels, 6)
    real_shown = synthetic_check.first_per_class(labels, 6)
    plots.plot_real_vs_synthetic(
        images.take(real_shown),
        labels[real_shown],
        read_rows(synthetic, shown),
        new_labels[shown],
        dataset.class_names,
        f"{method_id}, fold {fold}",
        out["grid"],
    )
    check = synthetic_check.nearest_neighbour_check(
        images, labels, synthetic, new_labels, dataset.class_names
    )
    write_json(out["check"], {"method": method_id, "fold": fold, **check})


def classifier_spec(dataset: ImageDataset, job: dict, fit_labels: np.ndarray) -> dict:
    """What a classifier's model file says of it: the network (what ``build_classifier`` builds),
    the images and classes it takes, and what it was fitted under (its fit set's labels are
    ``fit_labels``). ``job``: the training job's settings (fold, method, arch, recipe, and the
    loss recipe of a long-tail loss)."""
    method = parse_method(job["method"])
    channels, height, width = dataset.image_shape
    last_layer = {"last_layer": "linear"}
    if method.loss == "ldam-drw":  # LDAM's margins are on cosines
        last_layer = {"last_layer": "cosine", "cosine_scale": job["loss"].ldam_scale}
    start = {}  # from ImageNet weights: the input transform evaluation and predict rebuild
    if job["recipe"].weights == "imagenet":
        start = {"pretrained": WEIGHTS, "input_transform": imagenet_input(job["arch"])}
    return {
        "arch": job["arch"],
        "stem": job["recipe"].stem,
        "in_channels": channels,
        "image_size": [height, width],
        "n_classes": dataset.n_classes,
        "class_names": dataset.class_names,
        "method": method.id,
        "fold": job["fold"],
        "input_scaling": INPUT_SCALING,
        # the class prior the classifier learned, for logit adjustment at evaluation
        "fit_counts": np.bincount(fit_labels, minlength=dataset.n_classes).tolist(),
        "class_weighted": method.class_weighted,
        # a long-tail loss already corrects for the training prior
        "prior_corrected": method.loss in LOSS_METHODS,
        **last_layer,
        **start,
    }


def train_classifier(
    inputs: dict,
    *,
    fold: int,
    method_id: str,
    arch: str,
    recipe: ClassifierRecipe,
    loss: dict,
    seed: int,
    compute: Compute,
    checkpoint,
    out: dict,
) -> None:
    """Train one classifier on the method's fit set; ``checkpoint``: where a killed job resumes;
    ``loss``: the keys of the ``losses`` block this method uses."""
    method, loss_settings = parse_method(method_id), LossRecipe.from_config(loss)
    job = {"fold": fold, "method": method_id, "arch": arch, "seed": seed, "recipe": recipe}
    if method.loss in LOSS_METHODS:
        job["loss"] = loss_settings
    dataset, parts = fold_training_data(inputs, fold)
    images, labels, source = training_set(
        dataset.images, dataset.labels, parts["fit"], inputs.get("balanced")
    )
    validation = parts["validation"]
    recipe = recipe.for_fit_set(len(labels))
    spec = classifier_spec(dataset, job, labels) | {
        "real_images": real_images_used(source, validation)
    }
    loss = fit_set_loss(method, labels, dataset.n_classes, loss_settings, recipe.epochs)
    # the same seed for every method of a fold: all classifiers start from the same weights
    generator = seed_everything(stage_seed(seed, fold, "classifier", arch))
    model = build_classifier(spec)
    if recipe.weights == "imagenet":
        load_pretrained(model, arch, recipe.weights_file)
    device, precision = resolve(compute)
    resume = job_checkpoint(checkpoint, job, compute, precision, images, labels)
    name = f"{method_id} {arch} fold {fold}"
    advice = classifier_advice(arch, recipe)
    with explained_out_of_memory(f"train_classifier {name}", device, advice, checkpoint):
        model, history = fit_classifier(
            model,
            # ImageRows of the cache and the synthetic set, read a batch at a time
            images,
            torch.from_numpy(labels),
            dataset.view(validation),
            torch.from_numpy(dataset.labels[validation]),
            recipe,
            FitRun(generator, precision, resume, desc=name),
            n_classes=dataset.n_classes,
            loss=loss,
        )
    history = save_fit(out, model, spec | {"environment": environment(device, precision)}, history)
    plots.plot_history(history, ["train_loss", "val_loss"], name, out["curve"])
    resume.discard()


def train_head(
    inputs: dict,
    *,
    fold: int,
    method_id: str,
    recipe: HeadRecipe,
    seed: int,
    compute: Compute,
    out: dict,
) -> None:
    """Freeze the backbone method's classifier and train a new last layer on the features of the
    fold's real fit images (``heads``); the model file holds the whole network."""
    from .rebalance.heads import head_spec, penultimate_features, train_head_layer

    method = parse_method(method_id)
    dataset, parts = fold_training_data(inputs, fold)
    train = parts["fit"]  # the backbone's real fit images, the same for every method
    model, spec = load_classifier(inputs["backbone"])
    check_compatible(spec, dataset, inputs["backbone"], inputs["images"])
    device, precision = resolve(compute)
    features = penultimate_features(model, dataset.view(train), 256, device, precision).numpy()
    model.fc, history, labels = train_head_layer(
        method.head,
        features,
        dataset.labels[train],
        dataset.n_classes,
        recipe,
        seed,
        fold,
        method_id,
        desc=f"{method_id} {spec['arch']} fold {fold}",
    )
    spec = head_spec(spec, method, recipe, labels) | {
        "real_images": real_images_used(train, parts["validation"]),
        "environment": environment(device, precision),
    }
    history = save_fit(out, model, spec, history)
    plots.plot_history(history, ["train_loss"], f"{method_id} fold {fold}", out["curve"])


def evaluate(
    inputs: dict,
    *,
    fold: int,
    testsets: list[str],
    recipe: EvaluationRecipe,
    batch_size: int,
    compute: Compute,
    out: dict,
) -> list[dict]:
    """Classify the test sets with a saved classifier and write every output of each (``out``
    maps each output name to a list of paths in the order of ``testsets``; see
    ``evaluation.write_evaluation``). With ``recipe.logit_adjustment`` (tau > 0) the
    probabilities are divided by the classifier's training prior to that power before anything
    is scored or written. Returns the metrics of each test set."""
    from .verdict.evaluation import write_evaluation

    dataset = ImageDataset.load(inputs["images"])
    wanted = {
        testset: test_indices(inputs["split"], inputs["folds"], fold, testset)
        for testset in testsets
    }
    model, spec = load_classifier(inputs["model"])
    check_compatible(spec, dataset, inputs["model"], inputs["images"])
    check_scorable(spec, fold, testsets, inputs["model"])
    # scored in fp32 whatever compute.precision the classifier trained in
    device = select_device(compute.device)
    how = {**recipe.as_dict(), "environment": environment(device, scoring_precision(device))}
    # the imbalanced test set reads its rows of the test set's classification
    pools = {"test": test_indices(inputs["split"], inputs["folds"], fold, "test")}
    scored = predict_sets(model, dataset, wanted, pools, batch_size, device, recipe.test_time_flip)
    results = []
    for i, (testset, indices) in enumerate(wanted.items()):
        probabilities = scored[testset]
        if recipe.logit_adjustment:
            probabilities = logit_adjusted(
                probabilities, training_prior(spec), recipe.logit_adjustment
            )
        paths = {name: files[i] for name, files in out.items()}
        results.append(
            write_evaluation(dataset, spec, fold, testset, indices, probabilities, how, paths)
        )
    return results
