from latentbalance import stages
from latentbalance.settings.recipes import ClassifierRecipe
from latentbalance.snakemake_job import outputs, start

params = start(snakemake, ClassifierRecipe)
stages.train_classifier(
    snakemake.input.images,
    snakemake.input.split,
    snakemake.input.folds,
    snakemake.input.get("balanced"),
    **params,
    out=outputs(snakemake),
)
