"""What every Snakemake script does first: log to the rule's log file, use the rule's threads,
exit without a final garbage collection, and turn the rule's config blocks into recipes."""

from __future__ import annotations

import atexit
import gc
import logging
import sys

from .recipes import Compute


def start(snakemake, recipe=None) -> dict:
    """Send stdout, stderr (tqdm, tracebacks) and logging to ``log[0]``; set torch's threads.

    Returns the rule's params as keyword arguments for the stage function: the config block in
    ``params.recipe`` as a ``recipe`` object (a class of ``recipes``), ``params.compute`` as a
    ``Compute``.
    """
    # The interpreter's last garbage collection walks every object left by torch, torchvision,
    # scikit-learn and matplotlib: 2-4 s of each job's exit. Frozen objects are skipped by it;
    # nothing is left to collect that matters once the outputs are written and closed.
    atexit.register(gc.freeze)
    if snakemake.log:
        stream = open(snakemake.log[0], "w", buffering=1)  # noqa: SIM115 - lives as long as the job
        sys.stdout = sys.stderr = stream
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        force=True,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if "torch" in sys.modules:  # only steps that train or run networks import torch
        sys.modules["torch"].set_num_threads(snakemake.threads)
    params = dict(snakemake.params.items())
    if recipe is not None:
        params["recipe"] = recipe.from_config(params["recipe"])
    if "compute" in params:
        params["compute"] = Compute.from_config(params["compute"])
    return params


def outputs(snakemake) -> dict:
    """The rule's named outputs: name -> path (or list of paths, for a list output)."""
    return {
        name: list(value) if isinstance(value, list) else value
        for name, value in snakemake.output.items()
    }
