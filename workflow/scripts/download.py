from latentbalance.data import prepare
from latentbalance.snakemake_job import start

params = start(snakemake)
prepare.download(**params, out_images=snakemake.output.images, out_skipped=snakemake.output.skipped)
