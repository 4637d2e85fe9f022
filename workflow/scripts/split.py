from latentbalance.data import prepare
from latentbalance.snakemake_job import outputs, start

params = start(snakemake)
prepare.split(snakemake.input.labels, **params, out=outputs(snakemake))
