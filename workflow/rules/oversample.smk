rule oversample:
    input:
        unpack(oversample_inputs),
    output:
        balanced="results/{dataset}/fold{fold}/balanced/{method}.npz",
        # the synthetic images, uint8 (N, C, H, W), which train_classifier memory-maps
        synthetic="results/{dataset}/fold{fold}/balanced/{method}.images.npy",
        info="results/{dataset}/fold{fold}/balanced/{method}.json",
        grid=report(
            "results/{dataset}/fold{fold}/balanced/{method}.png",
            caption="../report/balanced.rst",
            category="{dataset}",
            subcategory="4. balanced sets",
            labels={"fold": "{fold}", "method": "{method}"},
        ),
        # the synthetic-sample check: do synthetic images copy real ones, or collapse?
        check="results/{dataset}/fold{fold}/balanced/{method}.neighbours.json",
    log:
        "results/{dataset}/logs/fold{fold}/oversample/{method}.log",
    benchmark:
        "results/{dataset}/benchmarks/fold{fold}/oversample/{method}.tsv"
    conda:
        ENV
    threads: 1
    # Latent methods encode and decode on the configured device, so they ask for its GPU as training
    # does (counted locally, granted under SLURM); pixel methods run no network and ask none.
    resources:
        mem_mb=lambda w, input: oversample_memory_mb(
            input.images,
            input.split,
            w.method,
            config["autoencoder"]["latent_dim"],
            config["sampler"],
            1000,
        ),
        runtime=20,
        gpu=oversample_gpus,
    params:
        fold=lambda wildcards: int(wildcards.fold),
        method_id=lambda wildcards: wildcards.method,
        recipe=config["sampler"],
        # the autoencoder's batches, for encoding and decoding
        batch_size=config["autoencoder"]["batch_size"],
        seed=config["seed"],
        compute=COMPUTE,
    script:
        "../scripts/oversample.py"
