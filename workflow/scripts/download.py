from latentbalance.data import prepare
from latentbalance.snakemake_job import outputs, start

# image files are decoded by the rule's threads, one process each
prepare.download(**start(snakemake), workers=snakemake.threads, out=outputs(snakemake))
