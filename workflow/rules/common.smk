import math
import tempfile
from pathlib import Path

from snakemake.exceptions import WorkflowError

from latentbalance.settings.check import check_config
from latentbalance.rebalance.methods import HEADS, expand_methods, parse_method
from latentbalance.snakemake_job import host_memory_mb
from latentbalance.data.splits import fold_training_pool

# The schema (workflow/schemas/config.schema.yaml) with its defaults filled in, and what a schema
# cannot say (method ids, run_folds within folds, ...): a config that cannot run stops here with
# one ConfigError naming the key. The schema-fuzz test runs this same function.
check_config(config)

METHODS = expand_methods(config["methods"])
HEAD_IDS = "|".join(HEADS)
ENV = "../../envs/latentbalance.yaml"


# On a cluster these run on the submit host: download needs the internet, which compute nodes
# often lack, and summarize takes seconds.
localrules:
    download,
    summarize,


FOLDS = config["run_folds"] or list(range(config["folds"]))


def check_results_writable():
    """Fail before the first job when results/ cannot be written (read-only mount, another
    owner), instead of with a bare PermissionError once jobs run."""
    folder = Path("results") if Path("results").exists() else Path(".")
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as error:
        raise WorkflowError(
            f"cannot write results to {folder.resolve()} ({error.strerror}): run Snakemake in "
            "a directory you can write to (--directory DIR) or fix that folder's permissions"
        ) from error


check_results_writable()


wildcard_constraints:
    dataset=r"[A-Za-z0-9_.]+",
    fold=r"\d+",
    # no head: only evaluate takes <backbone>@<head> (train_head writes its model)
    method=r"[a-z0-9+-]+",
    arch=r"resnet\d+",
    ae=r"[a-z]+",
    penalty=r"nopenalty|penalty",


def job_gpus():
    """One GPU per job that runs a network, unless the config says CPU: `--resources gpu=1` then
    runs one at a time locally, and the SLURM executor requests --gpus=1 (where `auto` sees no
    GPU otherwise)."""
    return 0 if config["compute"]["device"] == "cpu" else 1


def oversample_gpus(wildcards):
    """Only latent-space methods run a network (the autoencoder); pixel methods need no GPU."""
    return job_gpus() if parse_method(wildcards.method).autoencoder else 0


# What evaluate's runtime is sized from: the images each built-in source holds and their side, and
# CPU milliseconds per 32x32 image for one forward pass on one thread with the small stem (the most
# compute; measured on a 2.x GHz Xeon in fp32, ResNet34 interpolated).
SOURCE_IMAGES = {
    "mnist5k": (5000, 28),
    "digits": (1797, 8),
    "mnist": (70000, 28),
    "fashionmnist": (70000, 28),
    "cifar10": (60000, 32),
    "svhn": (99289, 32),
}
FORWARD_MS = {"resnet18": 8, "resnet34": 16, "resnet50": 21, "resnet152": 75}


def evaluation_runtime(wildcards, attempt):
    """Minutes for one evaluate job on its one CPU thread (on a GPU it takes seconds): every
    configured test set through this classifier, twice with test_time_flip, doubled for a slower
    CPU, plus 10 for start-up. Folders and MVTec are sized from their counts (or 100k images).
    """
    block = config["datasets"][wildcards.dataset]
    fraction, counts = block["test_fraction"], block["imbalance"].get("counts")
    size = block.get("image_size") or 64
    side = size if isinstance(size, int) else max(size)
    default = (sum(counts) / (1 - fraction) if counts else 100_000, side)
    pool, side = SOURCE_IMAGES.get(block["source"], default)
    shares = {
        "test": fraction,
        "test_imbalanced": fraction,
        "holdout": 1 / config["folds"],
    }
    images = pool * sum(shares[name] for name in config["testsets"])
    passes = 2 if config["evaluate"]["test_time_flip"] else 1
    seconds = images * passes * FORWARD_MS[wildcards.arch] / 1000 * side**2 / 32**2
    return (10 + math.ceil(2 * seconds / 60)) * attempt


def dataset_setting(key):
    """Params function: one key of the dataset's config block."""
    return lambda wildcards: config["datasets"][wildcards.dataset][key]


def split_imbalance(wildcards):
    """Params function: the dataset's imbalance block with the training pool's counts. With
    ``counts_are: fold_training`` the counts are what each fold trains on, and the pool is larger
    by folds / (folds - 1)."""
    imbalance = dict(config["datasets"][wildcards.dataset]["imbalance"])
    if imbalance.pop("counts_are", "training_pool") == "fold_training":
        imbalance["counts"] = fold_training_pool(imbalance["counts"], config["folds"])
    return imbalance


# Keys of the autoencoder block that only some autoencoders use: a job is given only its own, so
# that changing the VAE's beta does not rerun the plain and Wasserstein autoencoders.
AUTOENCODER_ONLY_KEYS = {
    "kl_weight": lambda wildcards: wildcards.ae == "vae",
    "mmd_weight": lambda wildcards: wildcards.ae == "wae",
    "penalty_kind": lambda wildcards: wildcards.penalty == "penalty",
    "penalty_weight": lambda wildcards: wildcards.penalty == "penalty",
}


# Keys of the losses block each long-tail loss uses: changing la-loss's tau reruns la-loss alone.
LOSS_KEYS = {
    "la-loss": ["la_tau"],
    "balanced-softmax": [],
    "ldam-drw": ["ldam_max_margin", "ldam_scale", "drw_beta", "drw_from"],
}


def classifier_recipe(wildcards):
    """Params function: the classifier block with this method's epochs (`epochs_by_method`);
    the other methods' entries stay out, so naming one method reruns no other."""
    recipe = dict(config["classifier"])
    by_method = recipe.pop("epochs_by_method")
    recipe["epochs"] = by_method.get(wildcards.method, recipe["epochs"])
    return recipe


def loss_settings(wildcards):
    """Params function: the keys of the losses block this method's loss uses (none for the
    others)."""
    keys = LOSS_KEYS.get(parse_method(wildcards.method).loss, [])
    return {key: config["losses"][key] for key in keys}


# The heads block's keys that only one head uses: EOS's neighbours do not rerun crt.
HEAD_ONLY_KEYS = {"eos_neighbors": "eos", "smote_neighbors": "smote-feat"}


def head_settings(wildcards):
    """Params function: the heads block, less the keys of the other heads."""
    return {
        key: value
        for key, value in config["heads"].items()
        if HEAD_ONLY_KEYS.get(key, wildcards.head) == wildcards.head
    }


def autoencoder_recipe(wildcards):
    """Params function: the autoencoder block, less the keys this autoencoder does not use."""
    return {
        key: value
        for key, value in config["autoencoder"].items()
        if AUTOENCODER_ONLY_KEYS.get(key, lambda wildcards: True)(wildcards)
    }


# Resumable training state; not an output, so that it survives a kill and the --rerun-incomplete
# that follows.
AUTOENCODER_CHECKPOINT = (
    "results/{dataset}/checkpoints/fold{fold}/autoencoder-{ae}-{penalty}.pt"
)
CLASSIFIER_CHECKPOINT = (
    "results/{dataset}/checkpoints/fold{fold}/classifier-{method}-{arch}.pt"
)


def host_memory(base_mb, checkpoint):
    """mem_mb of a training rule: doubled on each retry unless the try before ran out of GPU
    memory (it leaves a marker beside its checkpoint; more host memory cannot help it).
    """
    return lambda wildcards, attempt: host_memory_mb(
        base_mb, attempt, checkpoint.format(**dict(wildcards.items()))
    )


def compute_settings():
    """Where and how networks run (device, precision, deterministic kernels, TF32); threads are
    each rule's own."""
    keys = ("device", "precision", "deterministic", "tf32")
    return {key: config["compute"][key] for key in keys}


def data_files(wildcards):
    return {
        "images": f"results/{wildcards.dataset}/data/images.npz",
        "split": f"results/{wildcards.dataset}/split/split.npz",
        "folds": f"results/{wildcards.dataset}/split/folds.npz",
    }


def oversample_inputs(wildcards):
    """Data files, plus the autoencoder for latent-space methods."""
    method = parse_method(wildcards.method)
    if not method.generates:
        raise ValueError(f"method {wildcards.method!r} generates no samples")
    inputs = data_files(wildcards)
    if method.autoencoder:
        inputs["autoencoder"] = (
            f"results/{wildcards.dataset}/fold{wildcards.fold}/autoencoder/"
            f"{method.autoencoder_dir}/model.pt"
        )
    return inputs


def classifier_inputs(wildcards):
    """Data files, plus the balanced set for methods that generate samples."""
    inputs = data_files(wildcards)
    if parse_method(wildcards.method).generates:
        inputs["balanced"] = (
            f"results/{wildcards.dataset}/fold{wildcards.fold}/balanced/{wildcards.method}.npz"
        )
    return inputs


def evaluation_metrics(wildcards):
    """Every metrics file of one dataset: folds x methods x classifiers x test sets."""
    return expand(
        "results/{dataset}/fold{fold}/eval/{method}/{arch}/{testset}/metrics.json",
        dataset=wildcards.dataset,
        fold=FOLDS,
        method=METHODS,
        arch=config["classifiers"],
        testset=config["testsets"],
    )


def evaluation_predictions(wildcards):
    """Every evaluation's per-image predictions of one dataset (the summary's bootstrap)."""
    return [
        path.replace("metrics.json", "predictions.csv")
        for path in evaluation_metrics(wildcards)
    ]


def penalty_settings():
    """The penalty's kind and weight, which the summary's model names carry when not the
    defaults."""
    return {
        key: config["autoencoder"][key] for key in ("penalty_kind", "penalty_weight")
    }


def classifier_histories(wildcards):
    """Every trained classifier's history of one dataset (the summary collects the curves); a
    head's few epochs on fixed features have no validation curve."""
    return expand(
        "results/{dataset}/fold{fold}/classifier/{method}/{arch}/history.csv",
        dataset=wildcards.dataset,
        fold=FOLDS,
        method=[m for m in METHODS if not parse_method(m).head],
        arch=config["classifiers"],
    )


def synthetic_checks(wildcards):
    """The nearest-neighbour check of every generating method's balanced sets (a head's backbone
    has its own)."""
    return expand(
        "results/{dataset}/fold{fold}/balanced/{method}.neighbours.json",
        dataset=wildcards.dataset,
        fold=FOLDS,
        method=[
            m for m in METHODS if parse_method(m).generates and not parse_method(m).head
        ],
    )


# One evaluate job per model covers every configured test set: torch and torchvision take
# seconds to import, which a job per test set paid again for a second's prediction.
def evaluation_files(name):
    """One model's file ``name`` for each configured test set."""
    return expand(
        "results/{{dataset}}/fold{{fold}}/eval/{{method}}/{{arch}}/{testset}/{name}",
        testset=config["testsets"],
        name=name,
    )


def evaluation_figures(name, caption, subcategory):
    """evaluation_files for the report: a table row per model, fold and test set."""
    figures = []
    for testset, path in zip(config["testsets"], evaluation_files(name)):
        labels = {
            "fold": "{fold}",
            "method": "{method}",
            "classifier": "{arch}",
            "test set": testset,
        }
        entry = dict(
            caption=caption,
            category="{dataset}",
            subcategory=subcategory,
            labels=labels,
        )
        figures.append(report(path, **entry))
    return figures


def final_outputs():
    return expand(
        "results/{dataset}/summary/{name}",
        dataset=config["datasets"],
        # headline.txt: what the report's landing page and the end of the run show
        name=["leaderboard.md", "leaderboard.html", "headline.txt", "config.yaml"],
    )


def print_headlines():
    """onsuccess: each dataset's headline (best model, margin, significance), where its
    leaderboard is, and the report command; nothing for a dataset without a summary."""
    # imported here: pandas would slow every start
    from latentbalance.verdict.pages import run_message

    headlines = {d: f"results/{d}/summary/headline.txt" for d in config["datasets"]}
    message = run_message(headlines, workflow.overwrite_configfiles or ())
    if message:
        print(message)
