from latentbalance.data import prepare
from latentbalance.snakemake_job import start

params = start(snakemake)
prepare.split(
    snakemake.input.images,
    **params,
    out_split=snakemake.output.split,
    out_summary=snakemake.output.summary,
    out_plot=snakemake.output.plot,
)
