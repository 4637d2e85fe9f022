"""The allowed values and defaults of every setting come from the config schema; every Python
dispatch on a setting accepts each value its schema enum lists, and the place the setting comes in
(its recipe, a method id, the config check) refuses any other."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from latentbalance.data.sources import load_source
from latentbalance.nets.autoencoders import build_autoencoder, deepsmote_penalty
from latentbalance.nets.classifiers import build_resnet
from latentbalance.rebalance.methods import parse_method
from latentbalance.rebalance.sampling import balance
from latentbalance.settings.check import check_config
from latentbalance.settings.recipes import (
    AutoencoderRecipe,
    ClassifierRecipe,
    Compute,
    SamplerRecipe,
)
from latentbalance.settings.schema import (
    ConfigError,
    allowed,
    check,
    schema,
    setting,
    with_defaults,
)
from latentbalance.training.augmentation import batch_mixing
from latentbalance.training.loop import learning_rate_schedule, make_optimizer
from latentbalance.training.runtime import Precision
from latentbalance.verdict.metrics import METRICS, compute_metrics


def test_allowed_values_are_the_schemas_enums():
    properties = schema()["properties"]
    classifier = properties["classifier"]["properties"]
    assert allowed("classifier.stem") == tuple(classifier["stem"]["enum"])
    assert allowed("classifier.augment.mix") == tuple(
        classifier["augment"]["properties"]["mix"]["enum"]
    )
    assert allowed("architectures") == tuple(properties["architectures"]["items"]["enum"])  # list
    assert "fashionmnist" in allowed("datasets.*.source")  # inside a mapping of datasets
    assert allowed("methods.grid.autoencoders") == ("ae", "vae", "wae")  # the grid form
    assert setting("classifier.schedule")["default"] == "constant"


def test_check_names_the_key_and_the_choices():
    check("classifier.schedule", "onecycle")
    with pytest.raises(ConfigError) as error:
        check("classifier.schedule", "warm")
    assert error.value.key == "classifier.schedule"
    assert str(error.value) == (
        "unknown classifier.schedule 'warm'; choose one of constant, cosine, step, onecycle"
    )


def test_with_defaults_fills_nested_blocks_and_keeps_what_is_given():
    block = with_defaults("classifier", {"epochs": 3, "augment": {"flip": True}})
    assert block["epochs"] == 3 and block["schedule"] == "constant"
    assert block["augment"] == {"flip": True, "crop_padding": 0, "mix": "none", "mix_alpha": 1.0}
    assert with_defaults("evaluate", {}) == {"test_time_flip": False, "logit_adjustment": 0}
    # unknown keys are left for the caller to refuse (recipes do)
    assert with_defaults("sampler", {"k": 3})["k"] == 3


def _images(n=6):
    return torch.rand(n, 1, 8, 8) * 2 - 1


def _optimizer():
    return torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), lr=0.1)


def _features():
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1], [30, 10])
    return rng.normal(size=(40, 4)) + labels[:, None], labels


# each setting that Python code dispatches on, and one call of that code with a value
DISPATCH = {
    "classifier.optimizer": lambda v: make_optimizer(v, torch.nn.Linear(2, 2).parameters(), 0.1, 0),
    "classifier.schedule": lambda v: learning_rate_schedule(_optimizer(), v, 4, 5),
    "classifier.augment.mix": lambda v: batch_mixing(v, 1.0, 3),
    "classifier.stem": lambda v: build_resnet("resnet18", 1, 3, v),
    "architectures": lambda v: build_resnet(v, 1, 3, "small"),
    "methods.grid.autoencoders": lambda v: build_autoencoder(v, 1, (8, 8), 4, width=4),
    "methods.grid.samplers": lambda v: balance(*_features(), v, SamplerRecipe.from_config(), 0),
    "autoencoder.penalty_kind": lambda v: deepsmote_penalty(
        build_autoencoder("ae", 1, (8, 8), 4, width=4), _images(), v
    ),
    "compute.precision": lambda v: Precision(torch.device("cpu"), v),
}


# where each of those settings comes in, and a value the schema does not allow is refused: a
# recipe (settings/recipes.py), a method id, the config check
DATASET = {"source": "digits", "imbalance": {"ratio": 2, "max_per_class": 10}}
ENTRY = {
    "classifier.optimizer": lambda v: ClassifierRecipe.from_config({"optimizer": v}),
    "classifier.schedule": lambda v: ClassifierRecipe.from_config({"schedule": v}),
    "classifier.augment.mix": lambda v: ClassifierRecipe.from_config({"augment": {"mix": v}}),
    "classifier.stem": lambda v: ClassifierRecipe.from_config({"stem": v}),
    "architectures": lambda v: check_config({"datasets": {"d": DATASET}, "architectures": [v]}),
    "methods.grid.autoencoders": lambda v: parse_method(f"smote-{v}"),
    "methods.grid.samplers": lambda v: parse_method(f"{v}-ae"),
    "autoencoder.penalty_kind": lambda v: AutoencoderRecipe.from_config({"penalty_kind": v}),
    "compute.precision": lambda v: Compute.from_config({"precision": v}),
}


@pytest.mark.parametrize("path", DISPATCH)
def test_every_dispatch_accepts_its_schema_enum_and_its_entry_refuses_the_rest(path):
    for value in allowed(path):
        ENTRY[path](value)
        DISPATCH[path](value)
    with pytest.raises(ConfigError, match="unknown .*bogus"):
        ENTRY[path]("bogus")


def test_every_source_has_a_loader(tmp_path):
    """Each source reaches its loader (which, with no data under ``root``, says what is missing);
    an unknown one is refused by name."""
    for source in allowed("datasets.*.source"):
        try:
            load_source(source, root=str(tmp_path / source), download=False)
        except (OSError, RuntimeError, ValueError) as error:
            assert "unknown datasets.*.source" not in str(error), source
    with pytest.raises(ValueError, match="unknown datasets.\\*.source 'imagenet'"):
        load_source("imagenet", root=str(tmp_path))


def test_every_metric_of_the_schema_is_computed():
    y = np.array([0, 1, 1, 0])
    assert set(METRICS) == set(allowed("summary.metric"))
    assert set(METRICS) <= set(compute_metrics(y, y, 2))


def test_every_setting_of_the_schema_has_a_row_in_config_readme():
    """config/README.md is where a user looks a key up: a key the schema accepts but the page
    does not name is a setting nobody can find."""
    page = (Path(__file__).parents[3] / "config" / "README.md").read_text()
    # a row's first cell names its keys: "`losses.drw_beta`, `losses.drw_from`", or a sibling by
    # its last part: "`datasets.<name>.imbalance.ratio` + `max_per_class`"
    named = {
        key
        for line in page.splitlines()
        if line.startswith("| `")
        for key in re.findall(r"`([^`]+)`", line.split(" | ")[0])
    }

    def leaves(node, path):
        for key, spec in node.get("properties", {}).items():
            name = f"{path}.{key}" if path else key
            if "properties" in spec:
                yield from leaves(spec, name)
            elif isinstance(spec.get("additionalProperties"), dict):
                yield name
                yield from leaves(spec["additionalProperties"], f"{name}.<name>")
            else:
                yield name

    missing = [
        name
        for name in leaves(schema(), "")
        if name not in named and name.rsplit(".", 1)[-1] not in named
    ]
    assert not missing, f"config/README.md has no row for {missing}"
