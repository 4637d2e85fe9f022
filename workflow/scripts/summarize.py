from latentbalance import summary
from latentbalance.snakemake_job import start

params = start(snakemake)
summary.summarize(
    snakemake.input.metrics,
    **params,
    out_per_fold=snakemake.output.per_fold,
    out_leaderboard=snakemake.output.leaderboard,
    out_markdown=snakemake.output.markdown,
    out_plot=snakemake.output.plot,
    out_environment=snakemake.output.environment,
)
