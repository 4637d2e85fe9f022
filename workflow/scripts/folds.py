from latentbalance import stages
from latentbalance.snakemake_job import start

params = start(snakemake)
stages.folds(snakemake.input.images, snakemake.input.split, **params,
             out_folds=snakemake.output.folds)
