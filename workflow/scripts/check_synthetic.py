from latentbalance.snakemake_job import start
from latentbalance.synthetic_check import check_synthetic

params = start(snakemake)
check_synthetic(
    snakemake.input.images,
    snakemake.input.split,
    snakemake.input.folds,
    balanced_path=snakemake.input.balanced,
    **params,
    out_check=snakemake.output.check,
)
