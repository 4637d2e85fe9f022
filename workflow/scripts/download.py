from latentbalance.data import prepare
from latentbalance.snakemake_job import outputs, start

prepare.download(**start(snakemake), out=outputs(snakemake))
