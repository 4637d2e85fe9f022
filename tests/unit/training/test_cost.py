"""What one image costs, measured on the workflow's own networks: the imagenet stem computes less
than the compact one, a forward pass less than a training step, a bigger batch holds more."""

from latentbalance.settings.schema import with_defaults
from latentbalance.training.cost import autoencoder_cost, classifier_cost, neighbour_seconds

COMPUTE = with_defaults("compute", {"device": "cpu", "precision": "fp32"})


def classifier(stem: str, batch_size: int = 8):
    recipe = with_defaults("classifier", {"stem": stem, "batch_size": batch_size})
    return classifier_cost("resnet18", 3, (16, 16), 4, recipe, COMPUTE, threads=1)


def test_the_stems_cost_what_the_classifier_docs_say():
    compact, imagenet = classifier("compact"), classifier("imagenet")
    assert 3 < compact.train_flops / imagenet.train_flops < 5  # "about 4x" less compute
    for net in (compact, imagenet):
        assert 0 < net.forward_s < net.train_s
        assert 2 < net.train_flops / net.forward_flops < 4  # backward: about twice the forward
        assert net.forward_1_s > 0
    # weights, gradients and Adam's two moments of ResNet18's 11 M parameters, at least
    assert compact.memory > 4 * 4 * 11e6


def test_a_bigger_batch_holds_more_activations():
    assert classifier("compact", 32).memory > classifier("compact", 8).memory + 1e6


def test_the_autoencoder_and_the_neighbour_search_are_timed():
    recipe = with_defaults("autoencoder", {"width": 8, "batch_size": 8})
    net = autoencoder_cost("vae", 1, (16, 16), 16, recipe, COMPUTE, threads=1)
    assert 0 < net.forward_s < net.train_s and net.train_flops > net.forward_flops > 0
    assert 0 < neighbour_seconds(pixels=64, images=50) < 1e-3
