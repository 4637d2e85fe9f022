from latentbalance import stages
from latentbalance.snakemake_job import start

params = start(snakemake)
# outputs are lists in the order of params.testsets: one job evaluates every test set
for i, testset in enumerate(params.pop("testsets")):
    stages.evaluate(
        snakemake.input.images,
        snakemake.input.split,
        snakemake.input.folds,
        model_path=snakemake.input.model,
        testset=testset,
        **params,
        out_metrics=snakemake.output.metrics[i],
        out_per_class=snakemake.output.per_class[i],
        out_confusion=snakemake.output.confusion[i],
        out_predictions=snakemake.output.predictions[i],
        out_prediction_grid=snakemake.output.prediction_grid[i],
        out_confusion_table=snakemake.output.confusion_table[i],
    )
