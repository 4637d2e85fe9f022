rule evaluate:
    input:
        unpack(data_files),
        model="results/{dataset}/fold{fold}/classifier/{method}/{arch}/model.pt",
    output:
        metrics=evaluation_files("metrics.json"),
        per_class=evaluation_files("per_class.csv"),
        confusion=evaluation_figures(
            "confusion.png",
            caption="../report/confusion.rst",
            subcategory="6. evaluation: confusion matrices",
        ),
        confusion_table=evaluation_files("confusion.csv"),
        predictions=evaluation_files("predictions.csv"),
        prediction_grid=evaluation_figures(
            "prediction_grid.png",
            caption="../report/prediction_grid.rst",
            subcategory="7. evaluation: test images, right and wrong",
        ),
    log:
        "results/{dataset}/logs/fold{fold}/evaluate/{method}-{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/fold{fold}/evaluate/{method}-{arch}.tsv"
    wildcard_constraints:
        method=r"[a-z0-9+@-]+",
    conda:
        ENV
    # One thread: many evaluate jobs run side by side on a CPU, and one thread keeps every
    # probability's bits independent of the core count.
    threads: 1
    # A GPU like training (the classifier's forward passes over every test set take seconds there,
    # up to hours on a CPU), counted by --resources gpu=N and requested from SLURM; runtime sized
    # for the CPU, the slowest case.
    resources:
        mem_mb=3000,
        runtime=evaluation_runtime,
        gpu=JOB_GPUS,
    params:
        fold=lambda wildcards: int(wildcards.fold),
        testsets=config["testsets"],
        recipe=config["evaluate"],
        # the classifier's batches: batch composition moves the last bits of the probabilities
        batch_size=config["classifier"]["batch_size"],
        compute=COMPUTE,
    script:
        "../scripts/evaluate.py"


rule summarize:
    input:
        unpack(summary_inputs),
    output:
        per_fold=report(
            "results/{dataset}/summary/metrics_per_fold.csv",
            caption="../report/metrics_per_fold.rst",
            category="{dataset}",
            subcategory="1. summary",
            labels={"figure": "metrics of every fold (CSV)"},
        ),
        leaderboard=report(
            "results/{dataset}/summary/leaderboard.csv",
            caption="../report/leaderboard_csv.rst",
            category="{dataset}",
            subcategory="1. summary",
            labels={"figure": "leaderboard (CSV)"},
        ),
        markdown="results/{dataset}/summary/leaderboard.md",
        plot=report(
            "results/{dataset}/summary/leaderboard.png",
            caption="../report/leaderboard_bars.rst",
            category="{dataset}",
            subcategory="1. summary",
            labels={"figure": "metric bars"},
        ),
        html=report(
            "results/{dataset}/summary/leaderboard.html",
            caption="../report/leaderboard.rst",
            category="{dataset}",
            subcategory="1. summary",
            labels={"figure": "leaderboard and significance"},
        ),
        comparison="results/{dataset}/summary/comparison.csv",
        significance="results/{dataset}/summary/significance.csv",
        posthoc="results/{dataset}/summary/posthoc_nemenyi.csv",
        critical_difference=report(
            "results/{dataset}/summary/critical_difference.png",
            caption="../report/critical_difference.rst",
            category="{dataset}",
            subcategory="1. summary",
            labels={"figure": "critical difference diagram"},
        ),
        curves=report(
            "results/{dataset}/summary/training_curves.png",
            caption="../report/training_curves.rst",
            category="{dataset}",
            subcategory="1. summary",
            labels={"figure": "classifier training curves"},
        ),
        checks=report(
            "results/{dataset}/summary/synthetic_check.csv",
            caption="../report/synthetic_check.rst",
            category="{dataset}",
            subcategory="1. summary",
            labels={"figure": "synthetic-sample check (CSV)"},
        ),
        environment="results/{dataset}/summary/environment.json",
        # the report's landing page and the end of a run show it
        headline="results/{dataset}/summary/headline.txt",
        config=report(
            "results/{dataset}/summary/config.yaml",
            caption="../report/config.rst",
            category="{dataset}",
            subcategory="1. summary",
            labels={"figure": "configuration (YAML)"},
        ),
    log:
        "results/{dataset}/logs/summarize.log",
    benchmark:
        "results/{dataset}/benchmarks/summarize.tsv"
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dataset_name=lambda wildcards: wildcards.dataset,
        metric=config["summary"]["metric"],
        alpha=config["summary"]["alpha"],
        testsets=config["testsets"],
        bootstrap_resamples=config["summary"]["bootstrap_resamples"],
        seed=config["seed"],
        # the settings that change what a method means label the models
        sampler=config["sampler"],
        autoencoder={
            k: config["autoencoder"][k] for k in ("penalty_kind", "penalty_weight")
        },
        losses=config["losses"],
        heads=config["heads"],
        by_method=config["classifier"]["by_method"],
    script:
        "../scripts/summarize.py"
