from latentbalance.snakemake_job import inputs, outputs, start
from latentbalance.verdict import summary

summary.summarize(
    inputs(snakemake),
    summary.SummarySettings(**start(snakemake)),
    outputs(snakemake),
    # the whole configuration, not a param: a change of another dataset's block reruns nothing
    config=snakemake.config,
)
