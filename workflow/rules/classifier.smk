rule train_classifier:
    input:
        unpack(classifier_inputs),
    output:
        model="results/{dataset}/fold{fold}/classifier/{method}/{arch}/model.pt",
        history="results/{dataset}/fold{fold}/classifier/{method}/{arch}/history.csv",
        curve=report(
            "results/{dataset}/fold{fold}/classifier/{method}/{arch}/history.png",
            caption="../report/classifier_history.rst",
            category="{dataset}",
            subcategory="5. classifiers",
            labels={"fold": "{fold}", "method": "{method}", "classifier": "{arch}"},
        ),
    log:
        "results/{dataset}/logs/fold{fold}/train_classifier/{method}-{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/fold{fold}/train_classifier/{method}-{arch}.tsv"
    conda:
        ENV
    threads: config["compute"]["threads"]
    resources:
        mem_mb=training_memory(
            1500,
            CLASSIFIER_CHECKPOINT,
            lambda w: classifier_settings(config["classifier"], w.method)[
                "batch_size"
            ],
        ),
        runtime=lambda wildcards, attempt: 120 * attempt,
        gpu=JOB_GPUS,
    params:
        fold=lambda wildcards: int(wildcards.fold),
        method_id=lambda wildcards: wildcards.method,
        arch=lambda wildcards: wildcards.arch,
        recipe=lambda w: classifier_settings(config["classifier"], w.method),
        # only the keys this method's loss reads: la-loss's tau reruns no other (READERS)
        loss=lambda w: settings_read_by(
            parse_method(w.method).parts, "losses", config["losses"]
        ),
        seed=config["seed"],
        compute=COMPUTE,
        checkpoint=CLASSIFIER_CHECKPOINT,
    script:
        "../scripts/train_classifier.py"


# <backbone>@<head>: the backbone method's classifier with a new last layer trained on its frozen
# features; a head setting changes only this job, its evaluation and the summary.
rule train_head:
    input:
        unpack(data_files),
        backbone="results/{dataset}/fold{fold}/classifier/{backbone}/{arch}/model.pt",
    output:
        model="results/{dataset}/fold{fold}/classifier/{backbone}@{head}/{arch}/model.pt",
        history="results/{dataset}/fold{fold}/classifier/{backbone}@{head}/{arch}/history.csv",
        curve=report(
            "results/{dataset}/fold{fold}/classifier/{backbone}@{head}/{arch}/history.png",
            caption="../report/classifier_history.rst",
            category="{dataset}",
            subcategory="5. classifiers",
            labels={
                "fold": "{fold}",
                "method": "{backbone}@{head}",
                "classifier": "{arch}",
            },
        ),
    log:
        "results/{dataset}/logs/fold{fold}/train_head/{backbone}@{head}-{arch}.log",
    benchmark:
        "results/{dataset}/benchmarks/fold{fold}/train_head/{backbone}@{head}-{arch}.tsv"
    wildcard_constraints:
        backbone=r"[a-z0-9+-]+",
    conda:
        ENV
    threads: config["compute"]["threads"]
    resources:
        mem_mb=4000,
        runtime=30,
        gpu=JOB_GPUS,
    params:
        fold=lambda wildcards: int(wildcards.fold),
        method_id=lambda wildcards: f"{wildcards.backbone}@{wildcards.head}",
        recipe=lambda w: settings_read_by({w.head}, "heads", config["heads"]),
        seed=config["seed"],
        compute=COMPUTE,
    script:
        "../scripts/train_head.py"
