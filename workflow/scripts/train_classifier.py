from latentbalance import stages
from latentbalance.settings.recipes import ClassifierRecipe
from latentbalance.snakemake_job import inputs, outputs, start

params = start(snakemake, ClassifierRecipe)
stages.train_classifier(inputs(snakemake), **params, out=outputs(snakemake))
