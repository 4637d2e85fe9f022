from latentbalance.data import prepare
from latentbalance.snakemake_job import outputs, start

params = start(snakemake)
prepare.folds(snakemake.input.labels, snakemake.input.split, **params, out=outputs(snakemake))
