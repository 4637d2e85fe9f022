rule oversample:
    input:
        unpack(oversample_inputs),
    output:
        balanced="results/{dataset}/fold{fold}/balanced/{method}.npz",
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
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        fold=lambda wildcards: int(wildcards.fold),
        method_id=lambda wildcards: wildcards.method,
        k_neighbors=config["sampler"]["k_neighbors"],
        target=config["sampler"]["target"],
        strict=config["sampler"]["strict"],
        synthetic_share=config["sampler"]["synthetic_share"],
        batch_size=config["autoencoder"]["batch_size"],
        seed=config["seed"],
        device=config["compute"]["device"],
        precision=config["compute"]["precision"],
    script:
        "../scripts/oversample.py"
