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
        mem_mb=host_memory(8000, CLASSIFIER_CHECKPOINT),
        runtime=lambda wildcards, attempt: 120 * attempt,
        gpu=job_gpus(),
    params:
        fold=lambda wildcards: int(wildcards.fold),
        method_id=lambda wildcards: wildcards.method,
        arch=lambda wildcards: wildcards.arch,
        recipe=config["classifier"],
        seed=config["seed"],
        compute=compute_settings(),
        checkpoint=CLASSIFIER_CHECKPOINT,
    script:
        "../scripts/train_classifier.py"
