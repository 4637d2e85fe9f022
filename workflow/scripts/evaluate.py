from latentbalance import stages
from latentbalance.snakemake_job import start

params = start(snakemake)
# one job evaluates every test set in params.testsets; each output is a list in that order
stages.evaluate(
    snakemake.input.images,
    snakemake.input.split,
    snakemake.input.folds,
    model_path=snakemake.input.model,
    **params,
    out_metrics=list(snakemake.output.metrics),
    out_per_class=list(snakemake.output.per_class),
    out_confusion=list(snakemake.output.confusion),
    out_predictions=list(snakemake.output.predictions),
    out_prediction_grid=list(snakemake.output.prediction_grid),
    out_confusion_table=list(snakemake.output.confusion_table),
)
