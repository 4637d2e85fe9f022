from latentbalance import stages
from latentbalance.settings.recipes import EvaluationRecipe
from latentbalance.snakemake_job import outputs, start

params = start(snakemake, EvaluationRecipe)
# one job evaluates every test set in params.testsets; each output is a list in that order
stages.evaluate(
    snakemake.input.images,
    snakemake.input.split,
    snakemake.input.folds,
    snakemake.input.model,
    **params,
    out=outputs(snakemake),
)
