rule download:
    output:
        images="results/{dataset}/data/images.npy",
        labels="results/{dataset}/data/images.labels.npz",
        skipped="results/{dataset}/data/skipped_images.csv",
    log:
        "results/{dataset}/logs/download.log",
    benchmark:
        "results/{dataset}/benchmarks/download.tsv"
    conda:
        ENV
    threads: config["compute"]["threads"]
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        source=dataset_setting("source"),
        root=dataset_setting("root"),
        download=dataset_setting("download"),
        local_copy=dataset_setting("local_copy"),
        verify=dataset_setting("verify"),
        category=dataset_setting("category"),
        url=dataset_setting("url"),
        image_size=dataset_setting("image_size"),
        channels=dataset_setting("channels"),
        skip_bad_images=dataset_setting("skip_bad_images"),
    script:
        "../scripts/download.py"


rule split:
    input:
        labels="results/{dataset}/data/images.labels.npz",
    output:
        split="results/{dataset}/split/split.npz",
        summary="results/{dataset}/split/class_counts.csv",
        plot=report(
            "results/{dataset}/split/class_counts.png",
            caption="../report/class_counts.rst",
            category="{dataset}",
            subcategory="2. data split",
        ),
    log:
        "results/{dataset}/logs/split.log",
    benchmark:
        "results/{dataset}/benchmarks/split.tsv"
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        test_fraction=dataset_setting("test_fraction"),
        validation_per_class=dataset_setting("validation_per_class"),
        imbalance=lambda w: pool_imbalance(
            config["datasets"][w.dataset]["imbalance"], config["folds"]
        ),
        seed=config["seed"],
    script:
        "../scripts/split.py"


rule folds:
    input:
        labels="results/{dataset}/data/images.labels.npz",
        split="results/{dataset}/split/split.npz",
    output:
        folds="results/{dataset}/split/folds.npz",
    log:
        "results/{dataset}/logs/folds.log",
    benchmark:
        "results/{dataset}/benchmarks/folds.tsv"
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        n_folds=config["folds"],
        validation_fraction=config["validation_fraction"],
        seed=config["seed"],
    script:
        "../scripts/folds.py"
