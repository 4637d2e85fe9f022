from snakemake.utils import validate

from latentbalance.methods import parse_method

validate(config, "../schemas/config.schema.yaml")

# Fail at parse time, with the list of valid ids, rather than with a missing-rule error later.
METHODS = {method_id: parse_method(method_id) for method_id in config["methods"]}
ENV = "../../envs/latentbalance.yaml"


wildcard_constraints:
    dataset=r"[A-Za-z0-9_.]+",
    fold=r"\d+",
    method=r"[a-z0-9+-]+",
    arch=r"resnet\d+",
    testset=r"test|holdout",
    ae=r"[a-z]+",
    penalty=r"nopenalty",


def dataset_setting(key):
    """Params function: one key of the dataset's config block."""
    return lambda wildcards: config["datasets"][wildcards.dataset][key]


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
        fold=range(config["folds"]),
        method=config["methods"],
        arch=config["classifiers"],
        testset=config["testsets"],
    )


def final_outputs():
    return expand(
        "results/{dataset}/summary/{name}",
        dataset=config["datasets"],
        name=["leaderboard.md", "leaderboard.png"],
    )
