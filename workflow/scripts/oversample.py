from latentbalance import stages
from latentbalance.settings.recipes import SamplerRecipe
from latentbalance.snakemake_job import outputs, start

params = start(snakemake, SamplerRecipe)
stages.oversample(
    snakemake.input.images,
    snakemake.input.split,
    snakemake.input.folds,
    snakemake.input.get("autoencoder"),
    **params,
    out=outputs(snakemake),
)
