# latentbalance: imbalanced image classification by oversampling in an autoencoder's latent space.
# Configuration: config/config.yaml (every key: config/README.md). Rules: workflow/rules/.


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/autoencoder.smk"
include: "workflow/rules/oversample.smk"
include: "workflow/rules/classifier.smk"
include: "workflow/rules/evaluate.smk"


rule all:
    input:
        final_outputs(),
    default_target: True
