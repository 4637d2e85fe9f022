from latentbalance import stages
from latentbalance.settings.recipes import AutoencoderRecipe
from latentbalance.snakemake_job import outputs, start

params = start(snakemake, AutoencoderRecipe)
stages.train_autoencoder(
    snakemake.input.images,
    snakemake.input.split,
    snakemake.input.folds,
    **params,
    out=outputs(snakemake),
)
