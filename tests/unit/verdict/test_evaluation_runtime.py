"""The time an evaluate job asks its scheduler for grows with what it scores: the test sets'
images, their size, the network and test-time flipping; a retry asks for more."""

import math

import pytest

from latentbalance.settings.check import check_config
from latentbalance.settings.schema import allowed
from latentbalance.verdict.evaluation_runtime import evaluation_minutes


def config(testsets=("test",), flip=False, **dataset):
    block = {"source": "cifar10", "imbalance": {"ratio": 10, "max_per_class": 100}, **dataset}
    return check_config(
        {
            "datasets": {"d": block},
            "testsets": list(testsets),
            "evaluate": {"test_time_flip": flip},
            "architectures": list(allowed("architectures")),
        }
    )


def test_minutes_grow_with_the_images_scored_and_the_network():
    # CIFAR-10's 60,000 images: a 20 % test set through ResNet18 at 8 ms each, doubled for a
    # slower CPU, plus 10 minutes to start
    assert evaluation_minutes(config(), "d", "resnet18") == 10 + math.ceil(2 * 12_000 * 0.008 / 60)
    one = evaluation_minutes(config(), "d", "resnet18")
    assert evaluation_minutes(config(flip=True), "d", "resnet18") > one
    assert evaluation_minutes(config(testsets=("test", "holdout")), "d", "resnet18") > one
    assert evaluation_minutes(config(), "d", "resnet152") > one
    # the imbalanced test set is rows of the test set's classification: no images of its own
    both = config(testsets=("test", "test_imbalanced"))
    assert evaluation_minutes(both, "d", "resnet18") == one
    assert evaluation_minutes(config(testsets=("test_imbalanced",)), "d", "resnet18") == one
    # a bigger image costs more per pass (folder: sized from its counts)
    small = config(source="folder", root="x", image_size=32, imbalance={"counts": [50_000, 10_000]})
    large = config(
        source="folder", root="x", image_size=[64, 96], imbalance={"counts": [50_000, 10_000]}
    )
    assert evaluation_minutes(large, "d", "resnet18") > evaluation_minutes(small, "d", "resnet18")


@pytest.mark.parametrize("arch", allowed("architectures"))
def test_every_architecture_the_schema_allows_is_sized(arch):
    assert evaluation_minutes(config(), "d", arch) >= 10
