from latentbalance import stages
from latentbalance.settings.recipes import SamplerRecipe
from latentbalance.snakemake_job import inputs, outputs, start

params = start(snakemake, SamplerRecipe)
stages.oversample(inputs(snakemake), **params, out=outputs(snakemake))
