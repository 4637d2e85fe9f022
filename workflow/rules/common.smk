import tempfile
from pathlib import Path

from snakemake.exceptions import WorkflowError

from latentbalance.config_check import check_config
from latentbalance.methods import expand_methods, parse_method
from latentbalance.splits import fold_training_pool

# The schema (workflow/schemas/config.schema.yaml) with its defaults filled in, and what a schema
# cannot say (method ids, run_folds within folds, ...): a config that cannot run stops here with
# one ConfigError naming the key. The schema-fuzz test runs this same function.
check_config(config)

METHODS = expand_methods(config["methods"])
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
    method=r"[a-z0-9+-]+",
    arch=r"resnet\d+",
    ae=r"[a-z]+",
    penalty=r"nopenalty|penalty",


def training_gpus():
    """One GPU per training job unless the config says CPU: `--resources gpu=1` then runs one at a
    time locally, and the SLURM executor requests --gpus=1."""
    return 0 if config["compute"]["device"] == "cpu" else 1


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


def autoencoder_recipe(wildcards):
    """Params function: the autoencoder block, less the keys this autoencoder does not use."""
    return {
        key: value
        for key, value in config["autoencoder"].items()
        if AUTOENCODER_ONLY_KEYS.get(key, lambda wildcards: True)(wildcards)
    }


def compute_settings():
    """Where networks run (device and precision); threads are each rule's own."""
    return {key: config["compute"][key] for key in ("device", "precision")}


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


def classifier_histories(wildcards):
    """Every classifier's training history of one dataset (the summary collects the curves)."""
    return expand(
        "results/{dataset}/fold{fold}/classifier/{method}/{arch}/history.csv",
        dataset=wildcards.dataset,
        fold=FOLDS,
        method=METHODS,
        arch=config["classifiers"],
    )


def synthetic_checks(wildcards):
    """The nearest-neighbour check of every generating method's balanced sets."""
    return expand(
        "results/{dataset}/fold{fold}/balanced/{method}.neighbours.json",
        dataset=wildcards.dataset,
        fold=FOLDS,
        method=[m for m in METHODS if parse_method(m).generates],
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
    from latentbalance.verdict import run_message

    headlines = {d: f"results/{d}/summary/headline.txt" for d in config["datasets"]}
    message = run_message(headlines, workflow.overwrite_configfiles or ())
    if message:
        print(message)
