from latentbalance import stages
from latentbalance.settings.recipes import HeadRecipe
from latentbalance.snakemake_job import inputs, outputs, start

params = start(snakemake, HeadRecipe)
stages.train_head(inputs(snakemake), **params, out=outputs(snakemake))
