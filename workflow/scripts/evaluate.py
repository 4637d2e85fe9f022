from latentbalance import stages
from latentbalance.settings.recipes import EvaluationRecipe
from latentbalance.snakemake_job import inputs, outputs, start

params = start(snakemake, EvaluationRecipe)
# one job evaluates every test set in params.testsets; each output is a list in that order
stages.evaluate(inputs(snakemake), **params, out=outputs(snakemake))
