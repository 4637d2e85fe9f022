"""What a result was computed with: library versions and the device, recorded beside every model
and every metrics file, so that a rerun months later can tell why a number moved."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError, version

PACKAGES = [
    "latentbalance",
    "torch",
    "torchvision",
    "numpy",
    "scikit-learn",
    "imbalanced-learn",
    "pandas",
    "snakemake",
]


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def environment(device, precision) -> dict:
    """Versions plus where and how a network ran (``device``: torch.device, ``precision``: the
    Precision in effect)."""
    return {**library_versions(), "device": str(device), "precision": precision.name}
