from latentbalance import stages
from latentbalance.snakemake_job import start

params = start(snakemake)
stages.evaluate(
    snakemake.input.images,
    snakemake.input.split,
    snakemake.input.folds,
    model_path=snakemake.input.model,
    **params,
    out_metrics=snakemake.output.metrics,
    out_per_class=snakemake.output.per_class,
    out_confusion=snakemake.output.confusion,
    out_predictions=snakemake.output.predictions,
    out_prediction_grid=snakemake.output.prediction_grid,
    out_confusion_table=snakemake.output.confusion_table,
)
