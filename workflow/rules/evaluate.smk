rule evaluate:
    input:
        unpack(data_files),
        model="results/{dataset}/fold{fold}/classifier/{method}/{arch}/model.pt",
    output:
        metrics="results/{dataset}/fold{fold}/eval/{method}/{arch}/{testset}/metrics.json",
        per_class="results/{dataset}/fold{fold}/eval/{method}/{arch}/{testset}/per_class.csv",
        confusion="results/{dataset}/fold{fold}/eval/{method}/{arch}/{testset}/confusion.png",
        predictions="results/{dataset}/fold{fold}/eval/{method}/{arch}/{testset}/predictions.csv",
        prediction_grid="results/{dataset}/fold{fold}/eval/{method}/{arch}/{testset}/prediction_grid.png",
    log:
        "results/{dataset}/logs/fold{fold}/evaluate/{method}-{arch}-{testset}.log",
    conda:
        ENV
    threads: 1
    resources:
        mem_mb=3000,
        runtime=15,
    params:
        fold=lambda wildcards: int(wildcards.fold),
        testset=lambda wildcards: wildcards.testset,
        batch_size=config["classifier"]["batch_size"],
        device=config["compute"]["device"],
        precision=config["compute"]["precision"],
    script:
        "../scripts/evaluate.py"


rule summarize:
    input:
        metrics=evaluation_metrics,
    output:
        per_fold="results/{dataset}/summary/metrics_per_fold.csv",
        leaderboard="results/{dataset}/summary/leaderboard.csv",
        markdown="results/{dataset}/summary/leaderboard.md",
        plot="results/{dataset}/summary/leaderboard.png",
        environment="results/{dataset}/summary/environment.json",
    log:
        "results/{dataset}/logs/summarize.log",
    conda:
        ENV
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        dataset_name=lambda wildcards: wildcards.dataset,
    script:
        "../scripts/summarize.py"
