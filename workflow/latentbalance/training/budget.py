"""How long a run takes and how much memory it holds, from its config and what one image costs
this machine (``training.cost`` measures that), and the richest run that fits a time budget:
``latentbalance inspect --budget``.

A run is counted job by job as the workflow plans it: per fold, one autoencoder per latent space
its methods use, one oversample job per generating method, one classifier per trained method and
architecture, one evaluation per model; images per epoch from the fold's training counts (a
generating method's balanced set holds every class at the sampler's target). Training jobs use
``compute.threads`` each, the others one; Snakemake (``--cores all``) keeps every core busy, so
the wall time is the CPU time over the cores (on a GPU, one job at a time).

Kept free of torch: the costs come in as numbers (``Costs``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..rebalance.methods import expand_methods, parse_method
from ..settings.recipes import budget_epochs, classifier_settings, latent_size

# What a job pays whatever its data: Python, torch and the library imported, Snakemake's script
# wrapper (6-8 s on a 2-core Xeon).
JOB_START_S = 7.0
# Reading rows of the uncompressed cache (images.npy) and writing it or a balanced set's synthetic
# images, bytes per second on one core (an order of magnitude: a page-cache copy and a write).
READ_BYTES_S = 1e9
WRITE_BYTES_S = 300e6
# What a job's process holds before its data: Python and the libraries; torch's jobs (the
# networks', oversample's, evaluate's) about 0.9 GB resident on this Xeon, the data steps 0.2 GB.
TORCH_JOB_BYTES = 0.9e9
DATA_JOB_BYTES = 0.2e9
DATA_RULES = ("download", "split", "folds", "summarize")
# oversample's working set beside its features: the synthetic-sample check's real and synthetic
# images of one class as floats and scikit-learn's distance blocks (synthetic_check.CHECK_BYTES,
# WORKING_MEMORY_MB) and one decoded chunk (sampling_space.DECODE_CHUNK_BYTES)
OVERSAMPLE_WORKING_BYTES = (2 * 128 + 128 + 64) * 2**20
# summarize: the bootstrap, the tables, plots and pages
SUMMARY_S = 30.0
# For the GPU advice only, not measured: an A100/H100-class card's sustained bf16 FLOP/s on these
# small convolutional networks, and the least time one batch takes there (kernel launches).
GPU_FLOPS = 50e12
GPU_BATCH_S = 0.005

# The runs inspect proposes, richest first: folds, autoencoder epochs, classifier epochs. Each is
# tried at the images' own size, then halved sizes (not below MIN_SIDE pixels), with the compact
# stem, then the imagenet stem (a quarter of the compute). Below the last: smoke tests.
SENSIBLE = [(5, 50, 30), (5, 30, 20), (3, 20, 15), (3, 10, 10)]
SMOKE = [(2, 5, 5), (2, 2, 2), (2, 1, 1)]
STEMS = ("compact", "imagenet")
MIN_SIDE = 32


@dataclass(frozen=True)
class NetCost:
    """One network at one image size: seconds per image of a training step (forward, backward,
    optimizer step) and of a forward pass, their FLOPs per image, the bytes its training holds
    (weights, gradients, optimizer state, a batch's activations), and seconds per image of a
    forward pass on one thread, as the one-thread rules run it (None: ``forward_s`` x threads)."""

    train_s: float
    forward_s: float
    train_flops: float
    forward_flops: float
    memory: int
    forward_1_s: float | None = None

    def one_thread(self, threads: int) -> float:
        return self.forward_1_s if self.forward_1_s is not None else self.forward_s * threads


@dataclass(frozen=True)
class Machine:
    """Where costs were measured: device and precision a job resolves to, threads per training
    job, cores (``--cores all``), the CPU's name, and seconds per (pair of images x pixel) of the
    synthetic-sample check."""

    device: str
    precision: str
    threads: int
    cores: int
    cpu: str
    neighbour_s: float


@dataclass(frozen=True)
class Costs:
    """What one image costs at one size: per autoencoder kind and per architecture."""

    machine: Machine
    size: tuple[int, int]
    autoencoders: dict[str, NetCost]
    classifiers: dict[str, NetCost]


@dataclass(frozen=True)
class Data:
    """What a folder holds, as the estimate needs it: readable images, the training pool and test
    sets per class, channels, the images' size (``image_size`` of a folder of mixed sizes), and the
    seconds ``inspect`` took to decode every image once."""

    images: int
    counts: list[int]
    test: int
    test_imbalanced: int
    channels: int
    size: tuple[int, int]
    read_s: float

    @classmethod
    def from_inspection(cls, found, config: dict, table: list[dict]) -> Data:
        (block,) = config["datasets"].values()
        mvtec = block["source"] == "mvtec"  # resized to 64x64 RGB unless set (files.load_mvtec)
        size = block.get("image_size") or ((64, 64) if mvtec else next(iter(found.sizes)))
        return cls(
            sum(found.readable),
            list(block["imbalance"]["counts"]),
            sum(row["test"] for row in table),
            sum(row["test_imbalanced"] for row in table),
            3 if found.colour or mvtec else 1,
            (size, size) if isinstance(size, int) else tuple(size),
            found.read_s,
        )


@dataclass(frozen=True)
class Stage:
    """The jobs of one rule: how many, their seconds together (each at the rule's ``threads``),
    the largest one's memory, and what one does."""

    rule: str
    jobs: int
    seconds: float
    threads: int
    memory: int
    does: str = ""


@dataclass(frozen=True)
class Estimate:
    stages: list[Stage]
    machine: Machine

    @property
    def wall(self) -> float:
        if self.machine.device == "cuda":  # one job per card
            return sum(s.seconds for s in self.stages)
        return sum(s.seconds * s.threads for s in self.stages) / self.machine.cores

    @property
    def memory(self) -> tuple[int, str]:
        """The most memory held at once (jobs of one rule side by side) and by what."""
        held = [
            (s.memory * max(1, min(s.jobs, self.machine.cores // s.threads)), s.rule)
            for s in self.stages
        ]
        return max(held)


def estimate(config: dict, data: Data, costs: Costs) -> Estimate:
    """The time and memory of the run ``config`` (a whole, checked config of one dataset)."""
    (block,) = config["datasets"].values()
    machine, threads = costs.machine, costs.machine.threads
    row = data.channels * math.prod(run_size(block, data))
    cache = data.images * row
    # jobs map the cache and read the rows they use (split and folds: the labels only)
    start = JOB_START_S
    k = config["folds"]
    folds = len(config["run_folds"] or range(k))
    fold = [c - c / k for c in data.counts]  # a fold's training images per class
    fit, val = fit_and_validation(block, config, fold)
    methods = [parse_method(m) for m in expand_methods(config["methods"])]
    stages = [
        # download writes the cache a chunk at a time
        Stage(
            "download", 1, JOB_START_S + data.read_s + cache / WRITE_BYTES_S, 1, min(cache, 2**28)
        ),
        Stage("split", 1, start, 1, 0),
        Stage("folds", 1, start, 1, 0),
    ]
    stages += _autoencoder_stages(config, methods, (sum(fit), val), costs, start, row)
    latent = latent_size(config["autoencoder"]["latent_dim"], data.channels)
    stages += _oversample_stages(config, methods, fit, costs, (start, row, latent))
    stages += _classifier_stages(config, methods, (fit, val), costs, start, row)
    tests = {
        "test": data.test,
        "test_imbalanced": data.test_imbalanced,
        "holdout": sum(data.counts) / k,
    }
    scored = sum(tests[t] for t in config["testsets"])
    flips = 2 if config["evaluate"]["test_time_flip"] else 1
    models = len(methods) * len(config["architectures"])
    seconds = sum(
        start + scored * flips * costs.classifiers[arch].one_thread(threads)
        for arch in config["architectures"]
    ) * len(methods)
    stages.append(Stage("evaluate", models, seconds, 1, 4 * scored * row, f"{scored:,.0f} images"))
    stages.append(Stage("summarize", 1, JOB_START_S + SUMMARY_S, 1, 0))
    stages = [
        Stage(
            s.rule,
            s.jobs * (1 if s.rule in DATA_RULES else folds),
            s.seconds * (1 if s.rule in DATA_RULES else folds),
            s.threads,
            s.memory + (DATA_JOB_BYTES if s.rule in DATA_RULES else TORCH_JOB_BYTES),
            s.does,
        )
        for s in stages
    ]
    return Estimate([s for s in stages if s.jobs], machine)


def fit_and_validation(block: dict, config: dict, fold: list[float]):
    """A fold's fit images per class and its number of validation images: a share of the fold's
    (``validation_fraction``), or the balanced validation set outside the pool."""
    if block.get("validation_per_class"):
        return fold, block["validation_per_class"] * len(fold)
    share = config["validation_fraction"]
    return [n * (1 - share) for n in fold], sum(fold) * share


def _autoencoder_stages(config, methods, fit_and_val, costs, start, row):
    """One fold's autoencoders: one per latent space (kind, penalty) its methods use."""
    recipe = config["autoencoder"]
    spaces = {m.autoencoder_dir: m for m in methods if m.autoencoder}
    fit, val = fit_and_val
    seconds, memory = 0.0, 0
    for method in spaces.values():
        net = costs.autoencoders[method.autoencoder]
        # the penalty trains a second batch, of one class, in every step
        epoch = fit * net.train_s * (2 if method.penalty else 1) + val * net.forward_s
        seconds += start + recipe["epochs"] * epoch
        # the network and a few batches: the images stay in the cache
        memory = max(memory, net.memory + 8 * recipe["batch_size"] * row)
    does = f"{fit:,.0f} images x {recipe['epochs']} epochs"
    return [Stage("train_autoencoder", len(spaces), seconds, costs.machine.threads, memory, does)]


def balanced_counts(config: dict, fold: list[float]) -> list[float]:
    """Every class raised to the sampler's target (the majority, or a number)."""
    target = config["sampler"]["target"]
    target = max(fold) if target == "majority" else target
    return [max(n, target) for n in fold]


def sampler_width(method, row_bytes: int, latent_size: int) -> int:
    """Numbers per image in the space ``method`` samples in: the autoencoder's codes, each
    image's position (``ros`` copies, read back from the cache), or the flattened images."""
    if method.autoencoder:
        return latent_size
    return 1 if method.sampler == "ros" else row_bytes


def oversample_held_bytes(
    row_bytes: float, fit_rows: float, synthetic_rows: float, width: int
) -> float:
    """What one oversample job holds beyond its process: the sampler's features (``width`` per
    image, ``sampler_width``; float32) of the fit set and of the new rows, each
    twice (imbalanced-learn's resampled copy; the new rows drawn, then gathered), the fit images
    where the features are their pixels, and ``OVERSAMPLE_WORKING_BYTES``. Otherwise the fit
    images stay in the cache."""
    read = fit_rows * row_bytes if width == row_bytes else 0
    return OVERSAMPLE_WORKING_BYTES + read + 8 * width * (fit_rows + synthetic_rows)


def _oversample_stages(config, methods, fold, costs, start_row_latent):
    """One fold's balanced sets: encode the fold, sample, decode, check, write.
    ``start_row_latent``: a job's start, an image's bytes and the latent size."""
    start, row, latent = start_row_latent
    machine = costs.machine
    generating = [m for m in methods if m.generates and not m.head]
    balanced = balanced_counts(config, fold)
    new = [b - n for b, n in zip(balanced, fold, strict=True)]
    synthetic = sum(new) * config["sampler"]["synthetic_share"]
    # nearest neighbours real-real, synthetic-real and synthetic-synthetic in each class
    pairs = sum(n * n + s * n + s * s for n, s in zip(fold, new, strict=True) if s)
    check = pairs * row * machine.neighbour_s + synthetic * row / WRITE_BYTES_S
    seconds = 0.0
    for method in generating:
        seconds += start + check
        if method.autoencoder:  # encode the fold, decode the new codes; one thread
            net = costs.autoencoders[method.autoencoder]
            seconds += (sum(fold) + synthetic) / 2 * net.one_thread(machine.threads)
        else:  # neighbours among the flattened images of each class
            seconds += sum(n * n for n in fold) * row * machine.neighbour_s
    memory = max(
        (
            oversample_held_bytes(row, sum(fold), synthetic, sampler_width(m, row, latent))
            for m in generating
        ),
        default=0,
    )
    does = f"{synthetic:,.0f} new images"
    return [Stage("oversample", len(generating), seconds, 1, memory, does)]


def _classifier_stages(config, methods, fit_and_val, costs, start, row):
    """One fold's classifiers (every trained method x architecture) and heads."""
    recipe, machine = config["classifier"], costs.machine
    fold, val = fit_and_val
    trained = [m for m in methods if not m.head]
    heads = [m for m in methods if m.head]
    seconds, memory, most = 0.0, 0, 0.0
    for method, arch in ((m, a) for m in trained for a in config["architectures"]):
        net = costs.classifiers[arch]
        images = sum(balanced_counts(config, fold) if method.generates else fold)
        own = classifier_settings(recipe, method.id)
        epochs = own["epochs"]
        if own.get("images_seen"):  # the equal budget
            epochs = budget_epochs(own["images_seen"], images)
        synthetic = (images - sum(fold)) * row / READ_BYTES_S
        seconds += start + synthetic + epochs * (images * net.train_s + val * net.forward_s)
        # the network and a few batches: the images stay in the cache and the synthetic set
        memory = max(memory, net.memory + 8 * own["batch_size"] * row)
        most = max(most, images)
    stages = [
        Stage(
            "train_classifier",
            len(trained) * len(config["architectures"]),
            seconds,
            machine.threads,
            memory,
            f"up to {most:,.0f} images x {recipe['epochs']} epochs",
        )
    ]
    head_seconds = sum(
        start + sum(fold) * costs.classifiers[arch].forward_s
        for _ in heads
        for arch in config["architectures"]
    )
    jobs = len(heads) * len(config["architectures"])
    memory = 5 * sum(fold) * row
    stages.append(Stage("train_head", jobs, head_seconds, machine.threads, memory))
    return stages


def run_size(block: dict, data: Data) -> tuple[int, int]:
    size = block.get("image_size") or data.size
    return (size, size) if isinstance(size, int) else tuple(size)
