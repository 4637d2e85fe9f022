from latentbalance import stages
from latentbalance.settings.recipes import AutoencoderRecipe
from latentbalance.snakemake_job import inputs, outputs, start

params = start(snakemake, AutoencoderRecipe)
stages.train_autoencoder(inputs(snakemake), **params, out=outputs(snakemake))
