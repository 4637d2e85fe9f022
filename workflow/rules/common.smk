from latentbalance.data.splits import pool_imbalance
from latentbalance.rebalance.methods import (
    AUTOENCODERS,
    HEADS,
    expand_methods,
    parse_method,
    settings_read_by,
)
from latentbalance.settings.check import check_config, check_results_writable
from latentbalance.settings.recipes import classifier_settings
from latentbalance.settings.schema import allowed
from latentbalance.snakemake_job import (
    one_job_per_card,
    oversample_memory_mb,
    training_memory,
)
from latentbalance.verdict.evaluation_runtime import evaluation_minutes

# The schema's checks and defaults, and what it cannot say (method ids, run_folds within folds):
# a config that cannot run stops here with one ConfigError naming the key (as in the fuzz test).
check_config(config)
check_results_writable()

METHODS = expand_methods(config["methods"])
FOLDS = config["run_folds"] or list(range(config["folds"]))
ENV = "../../envs/latentbalance.yaml"


# On a cluster these run on the submit host: download needs the internet, which compute nodes
# often lack, and summarize takes seconds.
localrules:
    download,
    summarize,


# the schema's choices: a path no config could ask for matches no rule
wildcard_constraints:
    dataset=r"[A-Za-z0-9_.]+",
    fold=r"\d+",
    # no head: only evaluate takes <backbone>@<head> (train_head writes its model)
    method=r"[a-z0-9+-]+",
    arch="|".join(allowed("architectures")),
    ae="|".join(AUTOENCODERS),
    penalty=r"nopenalty|penalty",
    head="|".join(HEADS),


# One GPU per job that runs a network, unless the config says CPU: locally one such job per
# visible card at a time unless `--resources gpu=N`; the SLURM executor requests --gpus=1.
JOB_GPUS = 0 if config["compute"]["device"] == "cpu" else 1
if JOB_GPUS:
    one_job_per_card(workflow)
# where and how networks run; threads are each rule's own
COMPUTE_KEYS = ("device", "precision", "deterministic", "tf32", "checkpoint_minutes")
COMPUTE = {k: config["compute"][k] for k in COMPUTE_KEYS}


def oversample_gpus(wildcards):
    """Only latent-space methods run a network (the autoencoder); pixel methods need no GPU."""
    return JOB_GPUS if parse_method(wildcards.method).autoencoder else 0


def evaluation_runtime(wildcards, attempt):
    """evaluate's minutes (verdict/evaluation_runtime.py), doubled on each retry."""
    return evaluation_minutes(config, wildcards.dataset, wildcards.arch) * attempt


def dataset_setting(key):
    return lambda wildcards: config["datasets"][wildcards.dataset][key]


EVALUATION = "results/{dataset}/fold{fold}/eval/{method}/{arch}/{testset}"
MODEL = "results/{dataset}/fold{fold}/classifier/{method}/{arch}"
BALANCED = "results/{dataset}/fold{fold}/balanced/{method}"
# Resumable training state; not an output, so that it survives a kill and the --rerun-incomplete
# that follows.
AUTOENCODER_CHECKPOINT = (
    "results/{dataset}/checkpoints/fold{fold}/autoencoder-{ae}-{penalty}.pt"
)
CLASSIFIER_CHECKPOINT = (
    "results/{dataset}/checkpoints/fold{fold}/classifier-{method}-{arch}.pt"
)


def data_files(wildcards):
    return {
        "images": f"results/{wildcards.dataset}/data/images.npy",
        "labels": f"results/{wildcards.dataset}/data/images.labels.npz",
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
        fold = f"results/{wildcards.dataset}/fold{wildcards.fold}"
        inputs["autoencoder"] = f"{fold}/autoencoder/{method.autoencoder_dir}/model.pt"
    return inputs


def classifier_inputs(wildcards):
    """Data files, plus the balanced set for methods that generate samples."""
    inputs, balanced = data_files(wildcards), BALANCED.format(**dict(wildcards.items()))
    if parse_method(wildcards.method).generates:
        inputs |= {"balanced": f"{balanced}.npz", "synthetic": f"{balanced}.images.npy"}
    return inputs


def summary_inputs(wildcards):
    """What the summary reads of one dataset: each evaluation's metrics and predictions,
    each classifier's curves (a head's few epochs have none), each balanced set's check.
    """
    trained = [m for m in METHODS if not parse_method(m).head]
    generating = [m for m in trained if parse_method(m).generates]
    runs, archs = dict(dataset=wildcards.dataset, fold=FOLDS), config["architectures"]
    models = dict(runs, method=METHODS, arch=archs, testset=config["testsets"])
    return {
        "metrics": expand(f"{EVALUATION}/metrics.json", **models),
        "predictions": expand(f"{EVALUATION}/predictions.csv", **models),
        "histories": expand(f"{MODEL}/history.csv", **runs, method=trained, arch=archs),
        "checks": expand(f"{BALANCED}.neighbours.json", **runs, method=generating),
    }


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
    entry = dict(caption=caption, category="{dataset}", subcategory=subcategory)
    labels = {"fold": "{fold}", "method": "{method}", "classifier": "{arch}"}
    files = zip(config["testsets"], evaluation_files(name))
    return [report(p, labels=labels | {"test set": t}, **entry) for t, p in files]


def print_headlines():
    """onsuccess: CPU fallbacks, each dataset's headline, its leaderboard, the report command."""
    # imported here: pandas would slow every start
    from latentbalance.verdict.pages import run_message

    headlines = {d: f"results/{d}/summary/headline.txt" for d in config["datasets"]}
    message = run_message(headlines, workflow.overwrite_configfiles or ())
    if message:
        print(message)
