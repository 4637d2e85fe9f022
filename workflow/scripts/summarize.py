from latentbalance.snakemake_job import start
from latentbalance.verdict import summary

params = start(snakemake)
summary.summarize(
    snakemake.input.metrics,
    prediction_files=snakemake.input.predictions,
    history_files=snakemake.input.histories,
    check_files=snakemake.input.checks,
    **params,
    out_per_fold=snakemake.output.per_fold,
    out_leaderboard=snakemake.output.leaderboard,
    out_markdown=snakemake.output.markdown,
    out_plot=snakemake.output.plot,
    out_environment=snakemake.output.environment,
    out_comparison=snakemake.output.comparison,
    out_significance=snakemake.output.significance,
    out_posthoc=snakemake.output.posthoc,
    out_critical_difference=snakemake.output.critical_difference,
    out_curves=snakemake.output.curves,
    out_checks=snakemake.output.checks,
    out_html=snakemake.output.html,
    out_headline=snakemake.output.headline,
    # the whole configuration, not a param: a change of another dataset's block reruns nothing
    config=snakemake.config,
    out_config=snakemake.output.config,
)
