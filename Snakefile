# latentbalance: imbalanced image classification by oversampling in an autoencoder's latent space.
# Configuration: config/config.yaml (every key: config/README.md). Rules: workflow/rules/.


# A --configfile given on the command line replaces the default run instead of merging into it,
# so `--configfile config/other.yaml` runs only the datasets that file names.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/autoencoder.smk"
include: "workflow/rules/oversample.smk"
include: "workflow/rules/classifier.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    default_target: True
    input:
        expand(
            "results/{dataset}/summary/{name}",
            dataset=config["datasets"],
            # headline.txt: what the report's landing page and the end of the run show
            name=["leaderboard.md", "leaderboard.html", "headline.txt", "config.yaml"],
        ),


onsuccess:
    print_headlines()
