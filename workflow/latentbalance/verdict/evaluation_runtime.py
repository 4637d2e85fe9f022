"""How long an evaluate job may run (its Snakemake ``runtime``), sized from the config: a
scheduler such as SLURM stops a job at its time limit. Kept free of torch: the workflow reads it
when it is parsed."""

from __future__ import annotations

import math

# The images each built-in source holds and their side.
SOURCE_IMAGES = {
    "mnist5k": (5000, 28),
    "digits": (1797, 8),
    "mnist": (70000, 28),
    "fashionmnist": (70000, 28),
    "cifar10": (60000, 32),
    "svhn": (99289, 32),
}
# CPU milliseconds per 32x32 image for one forward pass on one thread with the small stem (the
# most compute; measured on a 2.x GHz Xeon in fp32, ResNet34 interpolated).
FORWARD_MS = {"resnet18": 8, "resnet34": 16, "resnet50": 21, "resnet152": 75}


def evaluation_minutes(config: dict, dataset: str, arch: str) -> int:
    """Minutes for one evaluate job of ``dataset``'s ``arch`` classifier on its one CPU thread (on
    a GPU it takes seconds): every configured test set (``config``: the checked config) through
    the classifier, twice with test_time_flip, doubled for a slower CPU, plus 10 for start-up.
    Folders and MVTec are sized from their counts (or 100k images)."""
    block = config["datasets"][dataset]
    fraction, counts = block["test_fraction"], block["imbalance"].get("counts")
    size = block.get("image_size") or 64
    side = size if isinstance(size, int) else max(size)
    default = (sum(counts) / (1 - fraction) if counts else 100_000, side)
    pool, side = SOURCE_IMAGES.get(block["source"], default)
    # the imbalanced test set reads its rows of the test set's classification
    classified = {"test" if name == "test_imbalanced" else name for name in config["testsets"]}
    shares = {"test": fraction, "holdout": 1 / config["folds"]}
    images = pool * sum(shares[name] for name in classified)
    passes = 2 if config["evaluate"]["test_time_flip"] else 1
    seconds = images * passes * FORWARD_MS[arch] / 1000 * side**2 / 32**2
    return 10 + math.ceil(2 * seconds / 60)
