"""What a folder of images (or an MVTec AD category) holds, read the way the workflow reads it,
and a config that fits it: ``latentbalance inspect``.

The class order, the files read and the files ignored come from the workflow's own readers
(``files``, ``decode``); the counts are checked by running the workflow's split and fold steps on
the labels, so a config written here passes them.
"""

from __future__ import annotations

import copy
import math
import re
import shlex
import tempfile
import textwrap
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from PIL import Image
from tqdm import tqdm

from ..io import atomic_path
from ..settings.schema import schema, setting, with_defaults
from .decode import BadImageError, read_image
from .files import SourceFiles, folder_files, mvtec_files

# A run sized for a laptop CPU and a few hundred images (as config/my-images.yaml); every other
# key gets the schema's default.
SMALL_RUN = {
    "folds": 5,
    "methods": ["none", "weighted", "smote-ae"],
    "architectures": ["resnet18"],
    "testsets": ["test"],
    "autoencoder": {"width": 32, "epochs": 50, "batch_size": 32},
    "classifier": {"stem": "compact", "epochs": 30, "batch_size": 32},
    "compute": {"threads": 2},
}


@dataclass
class ClassContents:
    name: str
    folder: str
    readable: int = 0
    sizes: Counter = field(default_factory=Counter)  # (height, width) -> images
    modes: Counter = field(default_factory=Counter)  # PIL mode -> images
    colour: int = 0  # images whose channels differ (the run keeps 3 channels if any does)


@dataclass
class Inspection:
    source: str  # folder or mvtec
    root: Path
    category: str | None
    classes: list[ClassContents]
    unreadable: list[BadImageError]
    ignored: list[Path]
    read_s: float = 0.0  # seconds to decode every file once

    @property
    def colour(self) -> bool:
        return any(c.colour for c in self.classes)

    @property
    def readable(self) -> list[int]:
        return [c.readable for c in self.classes]

    @property
    def sizes(self) -> Counter:
        return sum((c.sizes for c in self.classes), Counter())


class DoesNotFit(ValueError):
    """No config fits what the folder holds (too few readable images in a class)."""


def mvtec_category(folder: Path) -> bool:
    """Whether ``folder`` is laid out as one MVTec AD category (train/good/ and test/)."""
    return (folder / "train" / "good").is_dir() and (folder / "test").is_dir()


def inspect_source(folder, category: str | None = None) -> Inspection:
    """Read every image file of a folder dataset (``category`` None) or of the MVTec AD
    ``category`` under ``folder``, as the workflow's download step would."""
    folder = Path(folder)
    if category is None:
        files, source = folder_files(folder), "folder"
    else:
        if not (folder / category).is_dir():
            raise FileNotFoundError(
                f"MVTec AD category {category!r} is not at {folder / category}; pass the folder "
                f"that holds {category}/ (or the category folder itself, without --mvtec)"
            )
        files, source = mvtec_files(folder, category), "mvtec"
    start = time.perf_counter()
    classes, unreadable = read_contents(files)
    seconds = time.perf_counter() - start
    return Inspection(source, folder, category, classes, unreadable, files.ignored, seconds)


def read_contents(files: SourceFiles) -> tuple[list[ClassContents], list[BadImageError]]:
    """Per class: how many files decode (with the workflow's reader), their sizes and modes."""
    classes = [
        ClassContents(name, folder)
        for name, folder in zip(files.class_names, files.class_folders, strict=True)
    ]
    unreadable = []
    pairs = zip(files.paths, files.labels, strict=True)
    for path, label in tqdm(pairs, total=len(files.paths), desc="reading images", unit="image"):
        try:
            pixels = read_image(path, None, 3)
        except BadImageError as error:
            unreadable.append(error)
            continue
        with Image.open(path) as image:  # the header only: it decoded just now
            width, height = image.size
            mode = image.mode
        contents = classes[label]
        contents.readable += 1
        contents.sizes[(height, width)] += 1
        contents.modes[mode] += 1
        contents.colour += not ((pixels[0] == pixels[1]).all() and (pixels[1] == pixels[2]).all())
    return classes, unreadable


def training_counts(readable: list[int], test_fraction: float) -> list[int]:
    """The most training images per class that the stratified independent test split leaves
    every class, whatever the seed: scikit-learn gives each class at least its share of the
    training part, rounded down (the part is what ``ceil(test_fraction * n)`` test images
    leave)."""
    total = sum(readable)
    training_part = total - math.ceil(test_fraction * total)
    return [training_part * n // total for n in readable]


def dataset_name(inspection: Inspection) -> str:
    """A results/<name>/ folder name the schema accepts, from the folder or category name."""
    base = inspection.category or inspection.root.resolve().name
    name = re.sub(r"[^A-Za-z0-9_.]+", "_", base).strip("_.")
    return f"mvtec_{name}" if inspection.source == "mvtec" else name or "my_images"


def dataset_block(inspection: Inspection, test_fraction: float) -> dict:
    """The config block of this dataset: its source, its counts for ``test_fraction``,
    skip_bad_images when a file is unreadable and, for a folder whose images differ in size, the
    most common size."""
    short = [c for c in inspection.classes if c.readable < 2]
    if short:
        raise DoesNotFit(
            "every class needs at least 2 readable images (one for the test set, one for "
            "training), and realistically dozens; too few in "
            + ", ".join(f"{c.folder} ({c.readable})" for c in short)
            + ": add images or remove the folder"
        )
    block = {"source": inspection.source, "root": str(inspection.root.resolve())}
    if inspection.category:
        block["category"] = inspection.category
    if inspection.source == "folder" and len(inspection.sizes) > 1:
        block["image_size"] = list(inspection.sizes.most_common(1)[0][0])
    if inspection.unreadable:
        block["skip_bad_images"] = True
    block["test_fraction"] = test_fraction
    block["imbalance"] = {"counts": training_counts(inspection.readable, test_fraction)}
    return block


def complete_config(block: dict, name: str, seed: int) -> dict:
    """A whole config: this dataset, the small run above, every other key at its default."""
    chosen = {"seed": seed, "datasets": {name: block}, **copy.deepcopy(SMALL_RUN)}
    counts = block["imbalance"]["counts"]
    folds = chosen["folds"] = max(2, min(chosen["folds"], *counts))
    # SMOTE's k must stay below the largest class of every fold's training part, which
    # stratified folds leave at least max(counts) - ceil(max(counts) / folds) images
    largest = max(counts) - math.ceil(max(counts) / folds)
    k_default = setting("sampler.k_neighbors")["default"]
    if largest <= k_default:
        chosen["sampler"] = {"k_neighbors": max(1, largest - 1)}
    config = {}
    for key, node in schema()["properties"].items():  # in the schema's (config/README's) order
        if key in chosen:
            config[key] = chosen[key]
        elif "default" in node:
            config[key] = copy.deepcopy(node["default"])
        if key != "datasets" and setting(key).get("type") == "object":
            config[key] = with_defaults(key, config.get(key, {}))
    return config


def check_split(config: dict, inspection: Inspection) -> list[dict]:
    """Check ``config`` as the Snakefile does, then run the workflow's split and fold steps on
    the labels of the readable images; returns the split's per-class table (the run's
    split/class_counts.csv) as records."""
    import pandas as pd

    from ..settings.check import check_config
    from ..settings.schema import ConfigError
    from .image_dataset import ImageDataset
    from .prepare import folds, split

    try:
        check_config(copy.deepcopy(config))
    except ConfigError as error:  # e.g. a --name that no results/ folder may have
        raise DoesNotFit(str(error)) from error
    (block,) = config["datasets"].values()
    labels = np.repeat(np.arange(len(inspection.classes)), inspection.readable)
    # the steps read labels only: one black pixel stands in for each image
    dataset = ImageDataset(
        np.zeros((len(labels), 1, 1, 1), np.uint8), labels, [c.name for c in inspection.classes]
    )
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        dataset.save(scratch / "images.npy")
        try:
            split(
                scratch / "images.npy",
                test_fraction=block["test_fraction"],
                validation_per_class=block.get("validation_per_class"),
                imbalance=block["imbalance"],
                seed=config["seed"],
                out={"split": scratch / "split.npz", "summary": scratch / "class_counts.csv"},
            )
            folds(
                scratch / "images.npy",
                scratch / "split.npz",
                n_folds=config["folds"],
                validation_fraction=config["validation_fraction"],
                seed=config["seed"],
                out={"folds": scratch / "folds.npz"},
            )
        except ValueError as error:
            raise DoesNotFit(
                f"the images are too few for a split with test_fraction {block['test_fraction']} "
                f"and seed {config['seed']}: {error}. Add images, or try another --test-fraction"
            ) from error
        return pd.read_csv(scratch / "class_counts.csv").to_dict("records")


def fitting_config(inspection: Inspection, test_fraction: float, seed: int, name: str):
    """(whole config, the split's per-class table) for what the folder holds; DoesNotFit when
    no config can."""
    config = complete_config(dataset_block(inspection, test_fraction), name, seed)
    return config, check_split(config, inspection)


# --- what the command prints and writes ----------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Mappings as blocks, lists in one line, as the shipped configs write them."""


_Dumper.add_representer(
    list, lambda dumper, data: dumper.represent_sequence("tag:yaml.org,2002:seq", data, True)
)


def to_yaml(data: dict) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def _tally(counter: Counter, label) -> str:
    return ", ".join(f"{label(key)}: {n}" for key, n in counter.most_common())


def _listed(lines: list[str], limit: int = 20) -> str:
    more = [f"... and {len(lines) - limit} more"] if len(lines) > limit else []
    return "\n".join(f"  {line}" for line in lines[:limit] + more)


def describe(inspection: Inspection) -> str:
    """The classes in label order, readable images per class with their sizes and modes, the
    unreadable files with their reasons, and the files that are not read."""
    import pandas as pd

    what = (
        f"MVTec AD category {inspection.category!r} under {inspection.root}"
        if inspection.source == "mvtec"
        else f"folder dataset {inspection.root}"
    )
    order = (
        "good, then every test/<defect type> pooled as defect"
        if inspection.source == "mvtec"
        else "folder names sorted by code point: upper case before lower case, 'Z' before 'a'"
    )
    table = pd.DataFrame(
        {
            "label": range(len(inspection.classes)),
            "class": [c.name for c in inspection.classes],
            "readable": inspection.readable,
            "sizes (height x width)": [
                _tally(c.sizes, lambda s: f"{s[0]}x{s[1]}") for c in inspection.classes
            ],
            "modes": [_tally(c.modes, str) for c in inspection.classes],
        }
    )
    parts = [
        f"{what}: {len(inspection.classes)} classes, {sum(inspection.readable)} readable images",
        f"\nClasses in label order, the order of 'imbalance.counts' ({order}):",
        table.to_string(index=False),
    ]
    if inspection.unreadable:
        parts += [
            f"\nUnreadable ({len(inspection.unreadable)}; a run stops on them unless "
            "'skip_bad_images: true', which skips them):",
            _listed([f"{e.path}: {e.reason}" for e in inspection.unreadable]),
        ]
    else:
        parts.append("\nUnreadable: none")
    if inspection.ignored:
        parts += [
            f"\nNot read ({len(inspection.ignored)}: hidden files, files without an image suffix, "
            "files outside a class folder):",
            _listed([str(p) for p in inspection.ignored]),
        ]
    return "\n".join(parts)


def describe_split(config: dict, table: list[dict]) -> str:
    import pandas as pd

    (block,) = config["datasets"].values()
    return (
        f"The split with test_fraction {block['test_fraction']} and seed {config['seed']} "
        "(the run's split/class_counts.csv; train = 'imbalance.counts', every training image "
        "the test split leaves):\n" + pd.DataFrame(table).to_string(index=False)
    )


def command_line(args) -> str:
    """The inspect command as typed (``args``: its parsed arguments), for the config's header."""
    command = ["latentbalance", "inspect", args.folder]
    for option in ("mvtec", "test_fraction", "seed", "name", "budget"):
        if getattr(args, option) is not None:
            command += [f"--{option.replace('_', '-')}", str(getattr(args, option))]
    return shlex.join(command)


def config_header(inspection: Inspection, config: dict, command: str, notes=()) -> str:
    """The comment that opens a written config: what was found, ``notes`` (its cost), and what
    to change."""
    (name,) = config["datasets"]
    block = config["datasets"][name]
    lines = [
        f"Written by `{command}`.",
        "Classes in label order (the order of imbalance.counts) with their readable images: "
        + ", ".join(f"{c.name} {c.readable}" for c in inspection.classes)
        + ".",
        f"imbalance.counts: every training image that test_fraction {block['test_fraction']} "
        "leaves each class; lower some to make the training set more imbalanced.",
    ]
    if inspection.unreadable:
        lines.append(
            f"{len(inspection.unreadable)} unreadable file(s), skipped (skip_bad_images) and "
            f"listed in results/{name}/data/skipped_images.csv."
        )
    if inspection.source == "folder" and len(inspection.sizes) > 1:
        lines.append(
            "The images differ in size: every one is resized to image_size [height, width], "
            "the most common size; smaller trains faster."
        )
    k = config["sampler"]["k_neighbors"]
    if k < setting("sampler.k_neighbors")["default"]:
        lines.append(
            f"sampler.k_neighbors is {k}: SMOTE's k must stay below the largest class's training "
            "images in a fold."
        )
    lines += [
        *notes,
        f"Run: snakemake --cores all --configfile <this file>; results in results/{name}/.",
        "Every key: config/README.md.",
    ]
    wrapped = [
        part
        for line in lines
        for part in textwrap.wrap(line, 96, break_long_words=False, break_on_hyphens=False)
    ]
    return "".join(f"# {line}\n" for line in wrapped)


def write_config(path, text: str, force: bool = False) -> None:
    """Write the config whole or not at all; an existing file is kept unless ``force``."""
    path = Path(path)
    if path.exists() and not force:
        raise FileExistsError(f"{path} exists; choose another name, or pass --force to replace it")
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
