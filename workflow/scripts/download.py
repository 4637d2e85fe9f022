from latentbalance import stages
from latentbalance.snakemake_job import start

params = start(snakemake)
stages.download(**params, out_images=snakemake.output.images)
