rule train_autoencoder:
    input:
        unpack(data_files),
    output:
        model="results/{dataset}/fold{fold}/autoencoder/{ae}-{penalty}/model.pt",
        history="results/{dataset}/fold{fold}/autoencoder/{ae}-{penalty}/history.csv",
        curve=report(
            "results/{dataset}/fold{fold}/autoencoder/{ae}-{penalty}/history.png",
            caption="../report/autoencoder_history.rst",
            category="{dataset}",
            subcategory="3. autoencoders",
            labels={"fold": "{fold}", "autoencoder": "{ae}-{penalty}"},
        ),
    log:
        "results/{dataset}/logs/fold{fold}/train_autoencoder/{ae}-{penalty}.log",
    benchmark:
        "results/{dataset}/benchmarks/fold{fold}/train_autoencoder/{ae}-{penalty}.tsv"
    conda:
        ENV
    threads: config["compute"]["threads"]
    resources:
        mem_mb=training_memory(
            1500, AUTOENCODER_CHECKPOINT, config["autoencoder"]["batch_size"]
        ),
        runtime=lambda wildcards, attempt: 120 * attempt,
        gpu=JOB_GPUS,
    params:
        fold=lambda wildcards: int(wildcards.fold),
        kind=lambda wildcards: wildcards.ae,
        penalty=lambda wildcards: wildcards.penalty == "penalty",
        # only the keys this autoencoder reads: the VAE's beta reruns no other (READERS)
        recipe=lambda w: settings_read_by(
            {w.ae, w.penalty}, "autoencoder", config["autoencoder"]
        ),
        seed=config["seed"],
        compute=COMPUTE,
        checkpoint=AUTOENCODER_CHECKPOINT,
    script:
        "../scripts/train_autoencoder.py"
