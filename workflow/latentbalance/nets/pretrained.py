"""torchvision's ImageNet weights as a classifier's starting point (``classifier.weights:
imagenet``).

The weights are read from the torch hub cache (``torch.hub.get_dir()/checkpoints/``, under the
file name of torchvision's ``Weights.url``) or from the file ``classifier.weights_file`` names.
latentbalance never downloads them itself: a job on a cluster node often has no network, and a
download attempt without one can hang. A missing file stops the run when the workflow is parsed
(``settings.check``) with one message naming the file, its size and where to put it.

The input transform goes into the network (``classifiers.ImageNetInput``, from the spec the model
file holds): the jobs keep feeding images in [-1, 1], and a saved classifier is rebuilt without
the weights file.

Kept free of torch at import: the Snakefile checks the file on every parse."""

from __future__ import annotations

import os
from pathlib import Path

from ..settings.schema import ConfigError

# the ImageNet weights of each architecture: torchvision's ``<Arch>_Weights.IMAGENET1K_V1``, the
# weights the ResNet papers' numbers and most fine-tuning work start from
WEIGHTS = "IMAGENET1K_V1"

# torchvision's file name (the end of ``Weights.url``) and size in MB (``meta["_file_size"]``), so
# that parsing the workflow needs no torchvision (seconds to import); tests/unit/nets/
# test_pretrained.py holds them to torchvision's own
FILES = {
    "resnet18": ("resnet18-f37072fd.pth", 44.7),
    "resnet34": ("resnet34-b627a593.pth", 83.3),
    "resnet50": ("resnet50-0676ba61.pth", 97.8),
    "resnet152": ("resnet152-394f9c45.pth", 230.4),
}
URL = "https://download.pytorch.org/models/"
KEY = "classifier.weights"


def hub_dir() -> Path:
    """``torch.hub.get_dir()`` as torch computes it (``$TORCH_HOME/hub``, else
    ``$XDG_CACHE_HOME/torch/hub``, else ``~/.cache/torch/hub``), without importing torch."""
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    return Path(os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch"))), "hub")


def weights_path(arch: str, weights_file: str | None = None) -> Path:
    """Where ``arch``'s ImageNet weights are read: ``weights_file`` when given, else the torch hub
    cache under torchvision's file name."""
    path = Path(weights_file).expanduser() if weights_file else hub_dir() / "checkpoints"
    # absolute without reading the disk: any text the config holds gives a path to name
    return Path(os.path.abspath(path if weights_file else path / FILES[arch][0]))


def missing_weights(arch: str, weights_file: str | None = None) -> ConfigError | None:
    """The error of a weights file that is not there (None when it is): what to download, how
    big it is, and the exact path to put it at."""
    path = weights_path(arch, weights_file)
    if os.path.isfile(path):  # False, not an error, for a name the system cannot hold
        return None
    name, size_mb = FILES[arch]
    where = "'classifier.weights_file' names" if weights_file else "the torch hub cache has"
    return ConfigError(
        KEY,
        f"'{KEY}: imagenet' needs torchvision's ImageNet weights of {arch}, {name} "
        f"({size_mb:.1f} MB), and {where} no such file: {path}. latentbalance never downloads "
        f"them: on a machine with internet, `curl -L --create-dirs -o {path} {URL}{name}`, and "
        "copy the file to that path where the jobs run; or name your copy in "
        "'classifier.weights_file' (TORCH_HOME moves the cache)",
    )


def check_pretrained(classifier: dict, architectures: list[str]) -> None:
    """Refuse ``classifier.weights: imagenet`` where it cannot run: a stem other than torchvision's
    (the weights are those of its 7x7 stride-2 first layer), a weights file for several
    architectures, a missing file; and ``weights_file`` without ``weights: imagenet``."""
    weights_file = classifier.get("weights_file")
    if classifier.get("weights", "none") == "none":
        if weights_file:
            raise ConfigError(
                "classifier.weights_file",
                "'classifier.weights_file' is set but 'classifier.weights' is none: set "
                "'classifier.weights: imagenet' to start from it, or remove 'weights_file'",
            )
        return
    if classifier["stem"] != "imagenet":
        raise ConfigError(
            KEY,
            f"'{KEY}: imagenet' needs 'classifier.stem: imagenet' (the weights are those of "
            f"torchvision's 7x7 stride-2 first layer), not {classifier['stem']!r}: set "
            "'classifier.stem: imagenet'",
        )
    if weights_file and len(architectures) > 1:
        raise ConfigError(
            "classifier.weights_file",
            f"'classifier.weights_file' names one file, but 'architectures' lists "
            f"{', '.join(architectures)}: train one architecture, or leave 'weights_file' out "
            "and put each file in the torch hub cache",
        )
    for arch in architectures:
        if (error := missing_weights(arch, weights_file)) is not None:
            raise error


def imagenet_input(arch: str) -> dict:
    """What a classifier that starts from ``arch``'s ImageNet weights records of its input (its
    spec's ``input_transform``): torchvision's normalisation of those weights
    (``weights.transforms()``: mean and std) and the 3 channels they take. Not its resize to
    224 px: the images keep the dataset's size (config/README.md says why)."""
    from torchvision import models

    transform = getattr(models.get_model_weights(arch), WEIGHTS).transforms()
    return {"kind": "imagenet", "mean": list(transform.mean), "std": list(transform.std)}


def load_pretrained(model, arch: str, weights_file: str | None = None) -> None:
    """Copy ``arch``'s ImageNet weights into ``model`` (built with ``imagenet_input``), all but its
    last layer, which keeps its fresh initialisation for this dataset's classes. Read with
    torchvision's ``load_state_dict_from_url`` from the file alone: never a download."""
    import torch
    from torchvision import models

    if (error := missing_weights(arch, weights_file)) is not None:
        raise error  # checked again here: a cluster node may not see the submit host's cache
    path = weights_path(arch, weights_file)
    url = getattr(models.get_model_weights(arch), WEIGHTS).url
    try:
        state = torch.hub.load_state_dict_from_url(
            url, model_dir=str(path.parent), file_name=path.name, weights_only=True
        )
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        missing, unexpected = model.load_state_dict(state, strict=False)
    except Exception as error:
        raise ValueError(
            f"{path} holds no ImageNet weights of torchvision's {arch} ({type(error).__name__}: "
            f"{str(error).splitlines()[0]}); replace it with {FILES[arch][0]} from {URL}"
        ) from error
    if unexpected or {k.split(".")[0] for k in missing} - {"fc"}:
        raise ValueError(
            f"{path} is not torchvision's {arch}: it lacks {sorted(missing)[:3]} and has "
            f"{sorted(unexpected)[:3]}; replace it with {FILES[arch][0]} from {URL}"
        )
