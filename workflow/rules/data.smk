rule download:
    output:
        images="results/{dataset}/data/images.npz",
    params:
        source=dataset_setting("source"),
        root=dataset_setting("root"),
        download=dataset_setting("download"),
        local_copy=dataset_setting("local_copy"),
    log:
        "results/{dataset}/logs/download.log",
    conda:
        ENV
    script:
        "../scripts/download.py"


rule split:
    input:
        images="results/{dataset}/data/images.npz",
    output:
        split="results/{dataset}/split/split.npz",
        summary="results/{dataset}/split/class_counts.csv",
    params:
        test_fraction=dataset_setting("test_fraction"),
        imbalance=dataset_setting("imbalance"),
        seed=config["seed"],
    log:
        "results/{dataset}/logs/split.log",
    conda:
        ENV
    script:
        "../scripts/split.py"


rule folds:
    input:
        images="results/{dataset}/data/images.npz",
        split="results/{dataset}/split/split.npz",
    output:
        folds="results/{dataset}/split/folds.npz",
    params:
        n_folds=config["folds"],
        seed=config["seed"],
    log:
        "results/{dataset}/logs/folds.log",
    conda:
        ENV
    script:
        "../scripts/folds.py"
