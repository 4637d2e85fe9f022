from latentbalance import stages
from latentbalance.snakemake_job import start

params = start(snakemake)
stages.train_classifier(
    snakemake.input.images,
    snakemake.input.split,
    snakemake.input.folds,
    balanced_path=snakemake.input.get("balanced"),
    **params,
    out_model=snakemake.output.model,
    out_history=snakemake.output.history,
    out_curve=snakemake.output.curve,
)
