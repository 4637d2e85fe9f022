"""Saved networks: a model file holds what it takes to rebuild the network (its spec) and its
weights. Also what a saved classifier tells the jobs that use it (a head re-trained on its
features, an evaluation, ``latentbalance predict``): the images it expects and the class prior it
was fitted under."""

from __future__ import annotations

import numpy as np
import torch

from ..io import atomic_path
from ..training.tensors import INPUT_SCALING
from .autoencoders import build_autoencoder
from .classifiers import build_classifier


def save_model(path, model: torch.nn.Module, spec: dict) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"spec": spec, "state_dict": state}, tmp)


def read_model_file(path) -> dict:
    """A saved model: its spec and weights. ``weights_only``: a tampered file cannot execute code
    when loaded, it is refused."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as error:
        raise ValueError(
            f"{path} is not a model file latentbalance can load safely ({type(error).__name__}: "
            f"{str(error).splitlines()[0]}). It is damaged (truncated copy, full disk) or was "
            "not written by latentbalance; delete it and rerun Snakemake to retrain it."
        ) from error
    if not isinstance(saved, dict) or not {"spec", "state_dict"} <= saved.keys():
        raise ValueError(
            f"{path} holds no latentbalance model (expected 'spec' and 'state_dict'); "
            "delete it and rerun Snakemake to retrain it."
        )
    return saved


def load_autoencoder(path):
    saved = read_model_file(path)
    spec = saved["spec"]
    model = build_autoencoder(
        spec["kind"], spec["in_channels"], spec["image_size"], spec["latent_dim"], spec["width"]
    )
    model.load_state_dict(saved["state_dict"])
    return model.eval()


def load_classifier(path):
    """A saved classifier in evaluation mode, and its spec."""
    saved = read_model_file(path)
    spec = saved["spec"]
    model = build_classifier(spec)
    model.load_state_dict(saved["state_dict"])
    if spec["input_scaling"] != INPUT_SCALING:
        raise ValueError(f"{path} expects inputs scaled as {spec['input_scaling']!r}, unknown here")
    return model.eval(), spec


def training_prior(spec: dict) -> np.ndarray:
    """The class prior a saved classifier was fitted under: its fit set's class shares, uniform
    for a class-weighted or long-tail loss (which already weighs the classes equally)."""
    counts = np.asarray(spec["fit_counts"], dtype=float)
    if spec["class_weighted"] or spec["prior_corrected"]:
        counts = (counts > 0).astype(float)
    # a class the classifier never saw gets the rarest seen class's prior, not an infinite boost
    counts = np.maximum(counts, counts[counts > 0].min())
    return counts / counts.sum()


def check_compatible(spec: dict, dataset, model_path, images_path) -> None:
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


def check_scorable(spec: dict, fold: int, testsets: list[str], model_path) -> None:
    """The classifier may be scored on these test sets of ``fold``: another fold's holdout is
    part of its training images, where its scores would be training accuracy."""
    if "holdout" in testsets and spec["fold"] != fold:
        raise ValueError(
            f"{model_path} was trained on fold {spec['fold']}: its images include fold {fold}'s "
            f"holdout, so it cannot be scored there; evaluate it on fold {spec['fold']}'s holdout "
            "(leave out --fold) or on test / test_imbalanced"
        )
