from latentbalance import stages
from latentbalance.settings.recipes import HeadRecipe
from latentbalance.snakemake_job import outputs, start

params = start(snakemake, HeadRecipe)
stages.train_head(
    snakemake.input.images,
    snakemake.input.split,
    snakemake.input.folds,
    snakemake.input.backbone,
    **params,
    out=outputs(snakemake),
)
