"""The richest run that fits a time budget on this machine, and what ``latentbalance inspect``
says of it: the estimate per rule, the memory, and when a GPU is the right tool.

Runs are tried richest first (``budget.SENSIBLE`` at each size and stem, in ``sizes`` order); the
first whose estimate fits is proposed. Costs are measured only at the sizes and stems tried.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass

from .budget import (
    GPU_BATCH_S,
    GPU_FLOPS,
    MIN_SIDE,
    SENSIBLE,
    SMOKE,
    STEMS,
    Costs,
    Data,
    Estimate,
    NetCost,
    estimate,
    run_size,
)

UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
DEFAULT_BUDGET = "4h"


def parse_duration(text: str) -> float:
    """Seconds of ``4h``, ``90m``, ``1h30m``, ``45s``, ``1.5h`` or ``2d``."""
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([dhms])", text.strip().lower())
    rebuilt = "".join(number + unit for number, unit in parts)
    if not parts or rebuilt != re.sub(r"\s+", "", text.strip().lower()):
        raise ValueError(f"{text!r} is not a duration: write it like 4h, 90m, 1h30m or 45s")
    seconds = sum(float(number) * UNITS[unit] for number, unit in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r}: a budget must be longer than 0 s")
    return seconds


def duration(seconds: float) -> str:
    """``45s``, ``12m``, ``3h10m``, ``2d4h``: two units at most, written as --budget reads them."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds}s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def sizes(native: tuple[int, int]) -> list[tuple[int, int]]:
    """The images' own size, then halved while the shorter side stays at MIN_SIDE or more."""
    found = [tuple(native)]
    while min(found[-1]) // 2 >= MIN_SIDE:
        found.append(tuple(side // 2 for side in found[-1]))
    return found


def with_run(config: dict, data: Data, size, stem: str, run: tuple[int, int, int]) -> dict:
    """``config`` with this size (``image_size`` written when not the images' own), stem,
    folds (no more than ``config`` has) and epochs."""
    folds, autoencoder_epochs, classifier_epochs = run
    config = copy.deepcopy(config)
    (block,) = config["datasets"].values()
    if tuple(size) != tuple(data.size) or "image_size" in block:
        block["image_size"] = list(size)
    config["folds"] = min(folds, config["folds"])
    config["autoencoder"]["epochs"] = autoencoder_epochs
    config["classifier"]["epochs"] = classifier_epochs
    config["classifier"]["stem"] = stem
    return config


def on_a_gpu(costs: Costs, config: dict) -> Costs:
    """The same networks on an assumed GPU (``GPU_FLOPS``, ``GPU_BATCH_S``): from their FLOPs."""

    def gpu(net: NetCost, batch: int) -> NetCost:
        floor = GPU_BATCH_S / batch
        forward = max(net.forward_flops / GPU_FLOPS, floor / 3)
        train = max(net.train_flops / GPU_FLOPS, floor)
        return NetCost(train, forward, net.train_flops, net.forward_flops, net.memory, forward)

    machine = costs.machine.__class__(**{**vars(costs.machine), "device": "cuda"})
    return Costs(
        machine,
        costs.size,
        {k: gpu(net, config["autoencoder"]["batch_size"]) for k, net in costs.autoencoders.items()},
        {a: gpu(net, config["classifier"]["batch_size"]) for a, net in costs.classifiers.items()},
    )


def free(costs: Costs) -> Costs:
    """``costs`` with networks that take no time: what a run costs besides training."""
    nothing = NetCost(0.0, 0.0, 0.0, 0.0, 0)
    return Costs(
        costs.machine,
        costs.size,
        dict.fromkeys(costs.autoencoders, nothing),
        dict.fromkeys(costs.classifiers, nothing),
    )


@dataclass(frozen=True)
class Proposal:
    """The proposed run (``config``) and its estimate, within ``budget_s`` or not (``fits``),
    one of the sensible runs or a smoke test; the richest run (full size, compact stem, most
    epochs) with its cost here and on a GPU."""

    config: dict
    estimate: Estimate
    costs: Costs
    budget_s: float
    fits: bool
    sensible: bool
    richest: dict
    richest_s: float
    richest_gpu_s: float


def propose(config: dict, data: Data, budget_s: float, measure: Callable) -> Proposal:
    """The richest run that fits ``budget_s`` (see the module); ``measure(size, stem)`` gives
    the ``Costs`` at that size with that stem."""
    measured: dict = {}

    def costs_at(size, stem) -> Costs:
        if (size, stem) not in measured:
            measured[size, stem] = measure(size, stem)
        return measured[size, stem]

    native = run_size(next(iter(config["datasets"].values())), data)
    trials = [(size, stem, run) for size in sizes(native) for stem in STEMS for run in SENSIBLE]
    trials += [(trials[-1][0], STEMS[-1], run) for run in SMOKE]
    richest = with_run(config, data, native, STEMS[0], SENSIBLE[0])
    first = costs_at(native, STEMS[0])
    richest_s = estimate(richest, data, first).wall
    gpu_s = estimate(richest, data, on_a_gpu(first, config)).wall
    for size, stem, run in trials:
        candidate = with_run(config, data, size, stem, run)
        # the jobs' start-up and data alone, with networks that cost nothing: over the budget,
        # this run is not worth timing
        if run != SMOKE[-1] and estimate(candidate, data, free(first)).wall > budget_s:
            continue
        found = estimate(candidate, data, costs_at(size, stem))
        if found.wall <= budget_s or run == SMOKE[-1]:
            return Proposal(
                candidate,
                found,
                costs_at(size, stem),
                budget_s,
                found.wall <= budget_s,
                run in SENSIBLE,
                richest,
                richest_s,
                gpu_s,
            )
    raise AssertionError("unreachable: the last trial is always proposed")


def run_words(config: dict, data: Data) -> str:
    """``128x128, stem compact, 5 folds, 50 + 30 epochs (autoencoder + classifier)``."""
    height, width = run_size(next(iter(config["datasets"].values())), data)
    return (
        f"{height}x{width}, stem {config['classifier']['stem']}, {config['folds']} folds, "
        f"{config['autoencoder']['epochs']} + {config['classifier']['epochs']} epochs "
        "(autoencoder + classifier)"
    )


def size_words(n_bytes: float) -> str:
    return f"{n_bytes / 1e9:.1f} GB" if n_bytes >= 1e9 else f"{n_bytes / 1e6:.0f} MB"


def where(machine) -> str:
    """``Intel Xeon (2 cores; cpu, bf16; 2 threads per training job)``."""
    return (
        f"{machine.cpu} ({machine.cores} cores; {machine.device}, {machine.precision}; "
        f"{machine.threads} threads per training job)"
    )


def gpu_advice(proposal: Proposal, data: Data) -> str | None:
    """When a GPU is the right tool, in words; None when this machine will do (or is one)."""
    if proposal.costs.machine.device == "cuda":
        return None
    full = (
        f"The full run ({run_words(proposal.richest, data)}) would take about "
        f"{duration(proposal.richest_s)} on this CPU and about "
        f"{duration(proposal.richest_gpu_s)} on one GPU (A100/H100 class, estimated from the "
        "networks' FLOPs)."
    )
    if not proposal.sensible:
        folds, autoencoder, classifier = SENSIBLE[-1]
        return (
            f"A GPU is the right tool for this folder: no sensible run ({folds} folds, "
            f"{autoencoder} + {classifier} epochs, down to {MIN_SIDE} px with the imagenet stem) "
            f"fits {duration(proposal.budget_s)} on this CPU, so the run proposed is a smoke test, "
            "not a result"
            + ("" if proposal.fits else ", and even it takes longer than the budget")
            + ". "
            + full
        )
    if proposal.config != proposal.richest and proposal.richest_gpu_s * 10 < proposal.richest_s:
        return "A GPU would run the whole of it: " + full
    return None


def describe(proposal: Proposal, data: Data) -> str:
    """The proposed run, its estimate per rule, its memory, the measured speeds, GPU advice."""
    found, machine = proposal.estimate, proposal.costs.machine
    lines = [
        f"A run for a budget of {duration(proposal.budget_s)} on this machine, {where(machine)}:",
        f"  {run_words(proposal.config, data)}",
        "Estimated time (the classifier's epochs are a ceiling: early stopping may end a job "
        "sooner) and memory:",
        f"  {'rule':<18} {'jobs':>5}  {'one job':<34} {'time':>12}",
    ]
    for stage in found.stages:
        lines.append(
            f"  {stage.rule:<18} {stage.jobs:>5}  {stage.does:<34} {duration(stage.seconds):>12}"
        )
    jobs = sum(stage.jobs for stage in found.stages)
    lines.append(
        f"  {'total':<18} {jobs:>5}  {'with snakemake --cores ' + str(machine.cores):<34} "
        f"{duration(found.wall):>12}"
    )
    held, rule = found.memory
    costs = proposal.costs
    speeds = [f"autoencoder {k} {1 / net.train_s:,.0f}" for k, net in costs.autoencoders.items()]
    speeds += [f"{arch} {1 / net.train_s:,.0f}" for arch, net in costs.classifiers.items()]
    lines += [
        f"Peak memory: about {size_words(held)} ({rule}).",
        f"Timed at {costs.size[0]}x{costs.size[1]} (images/s training): " + ", ".join(speeds) + ".",
    ]
    if not proposal.fits:
        lines.append(f"This is over the budget of {duration(proposal.budget_s)}.")
    advice = gpu_advice(proposal, data)
    return "\n".join(lines + ([advice] if advice else []))


def header_lines(proposal: Proposal, data: Data, budget_text: str) -> list[str]:
    """What the written config says of its cost, in its opening comment."""
    found = proposal.estimate
    stages = ", ".join(f"{s.rule} {duration(s.seconds)}" for s in found.stages)
    held, _ = found.memory
    lines = [
        f"Sized by --budget {budget_text} for {where(proposal.costs.machine)}: "
        f"{run_words(proposal.config, data)}.",
        f"Estimated: about {duration(found.wall)} with snakemake --cores "
        f"{proposal.costs.machine.cores} ({stages}); peak memory about {size_words(held)}.",
    ]
    advice = gpu_advice(proposal, data)
    return lines + ([advice] if advice else [])


def sized_run(found, config: dict, table: list[dict], budget_text: str | None):
    """For ``latentbalance inspect``: the run of ``config`` (what ``inspection.fitting_config``
    gave for the folder ``found``) that fits ``budget_text`` (``DEFAULT_BUDGET`` when None) here,
    timed on this machine. Returns (config, its split table, what to print, header lines)."""
    from ..data.inspection import check_split
    from .cost import measurer

    budget_text = budget_text or DEFAULT_BUDGET
    data = Data.from_inspection(found, config, table)
    plan = propose(config, data, parse_duration(budget_text), measurer(config, data))
    return (
        plan.config,
        check_split(plan.config, found),
        describe(plan, data),
        header_lines(plan, data, budget_text),
    )
