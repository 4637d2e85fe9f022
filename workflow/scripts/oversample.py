from latentbalance import stages
from latentbalance.snakemake_job import start

params = start(snakemake)
stages.oversample(
    snakemake.input.images,
    snakemake.input.split,
    snakemake.input.folds,
    autoencoder_path=snakemake.input.get("autoencoder"),
    **params,
    out_balanced=snakemake.output.balanced,
    out_info=snakemake.output.info,
    out_grid=snakemake.output.grid,
    out_check=snakemake.output.check,
)
