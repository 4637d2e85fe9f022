"""The run inspect proposes for a budget: budgets as typed, sizes tried, the richest run that
fits, and a GPU advised when no sensible run does."""

from itertools import pairwise

import pytest

from latentbalance.data.inspection import complete_config
from latentbalance.training.budget import Costs, Data, Machine, NetCost, estimate
from latentbalance.training.proposal import (
    describe,
    duration,
    parse_duration,
    propose,
    sizes,
)

DATA = Data(images=15000, counts=[4800, 1500, 500, 150, 48], test=3000, test_imbalanced=1400,
            channels=3, size=(128, 128), read_s=60.0)  # fmt: skip
MACHINE = Machine("cpu", "bf16", threads=2, cores=2, cpu="test CPU", neighbour_s=1e-10)


def config() -> dict:
    block = {"source": "folder", "root": "/data", "test_fraction": 0.2}
    return complete_config({**block, "imbalance": {"counts": DATA.counts}}, "parts", seed=1)


def measure_log():
    """A measure(size, stem) with costs that grow with the pixels (the imagenet stem a quarter of
    the compact one), and the list of what it was asked."""
    asked = []

    def measure(size, stem):
        asked.append((size, stem))
        pixels = size[0] * size[1] / 128**2
        share = 1 if stem == "compact" else 0.25
        classifier = NetCost(0.02 * pixels * share, 0.006 * pixels * share, 1e10, 3e9, 10**9)
        autoencoder = NetCost(0.005 * pixels, 0.0015 * pixels, 1e9, 3e8, 10**8)
        return Costs(MACHINE, tuple(size), {"ae": autoencoder}, {"resnet18": classifier})

    return measure, asked


def richness(found) -> tuple:
    (block,) = found.config["datasets"].values()
    side = (block.get("image_size") or [128])[0]
    stem = found.config["classifier"]["stem"] == "compact"
    run = found.config
    return side, stem, run["folds"], run["autoencoder"]["epochs"], run["classifier"]["epochs"]


def test_budgets_read_as_typed():
    assert parse_duration("4h") == 4 * 3600
    assert parse_duration("1h30m") == parse_duration("90m") == parse_duration("1.5h") == 5400
    assert parse_duration("45s") == 45 and parse_duration("2d") == 2 * 86400
    for text in ("4 hours", "", "h", "0m", "4h-", "-1h"):
        with pytest.raises(ValueError, match="duration|longer than 0"):
            parse_duration(text)
    for seconds in (45, 600, 3 * 3600 + 600, 3 * 86400):
        assert parse_duration(duration(seconds)) == seconds


def test_sizes_halve_down_to_32_pixels():
    assert sizes((128, 128)) == [(128, 128), (64, 64), (32, 32)]
    assert sizes((96, 160)) == [(96, 160), (48, 80)]
    assert sizes((28, 28)) == [(28, 28)]


def test_a_smaller_budget_never_proposes_a_richer_run():
    found = []
    for budget in ("20m", "1h", "4h", "12h", "1d", "10d"):
        measure, _ = measure_log()
        found.append(propose(config(), DATA, parse_duration(budget), measure))
    assert all(richness(a) <= richness(b) for a, b in pairwise(found))
    assert len({richness(f) for f in found}) >= 4  # the budget changes the run
    for proposal in found:
        assert proposal.estimate.wall == estimate(proposal.config, DATA, proposal.costs).wall
        assert proposal.fits == (proposal.estimate.wall <= proposal.budget_s)
    assert found[-1].config == found[-1].richest  # ten days: the full run at 128 px
    assert richness(found[-1]) == (128, True, 5, 50, 30)


def test_only_the_sizes_tried_are_timed():
    measure, asked = measure_log()
    propose(config(), DATA, parse_duration("10d"), measure)
    assert asked == [((128, 128), "compact")]
    measure, asked = measure_log()
    propose(config(), DATA, parse_duration("10m"), measure)
    # the full size is timed for the full run's cost, sizes whose start-up alone is over the
    # budget are skipped
    assert asked[0] == ((128, 128), "compact") and len(asked) <= 6


def test_a_gpu_is_advised_when_no_sensible_run_fits():
    measure, _ = measure_log()
    tight = propose(config(), DATA, parse_duration("3m"), measure)
    assert not tight.sensible
    assert richness(tight)[:3] == (32, False, 2)  # the smallest size and stem, two folds
    text = describe(tight, DATA)
    assert "A GPU is the right tool for this folder" in text
    assert "smoke test, not a result" in text
    assert "The full run (128x128, stem compact, 5 folds, 50 + 30 epochs" in text
    measure, _ = measure_log()
    roomy = propose(config(), DATA, parse_duration("10d"), measure)
    assert "GPU" not in describe(roomy, DATA)
