"""Recipes: one frozen object per config block, the schema's defaults filled in, unknown keys
refused."""

import dataclasses

import pytest

from latentbalance.settings.recipes import (
    Augment,
    AutoencoderRecipe,
    ClassifierRecipe,
    Compute,
    EvaluationRecipe,
    SamplerRecipe,
)
from latentbalance.settings.schema import with_defaults

RECIPES = [AutoencoderRecipe, SamplerRecipe, Augment, ClassifierRecipe, EvaluationRecipe]


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: r.BLOCK)
def test_an_empty_block_is_the_schemas_defaults(recipe):
    default = recipe.from_config({})
    assert default == recipe.from_config(None)
    defaults = with_defaults(recipe.BLOCK, {})
    for key in recipe.RULE_KEYS:  # what the rule resolves, e.g. a method's own epochs
        defaults.pop(key)
    assert default.as_dict() == defaults
    # every default of the schema is a field of the recipe, and every field has a default
    assert {f.name for f in dataclasses.fields(recipe)} == defaults.keys()


def test_given_keys_are_kept_and_nested_blocks_filled():
    recipe = ClassifierRecipe.from_config(
        {"epochs": 3, "batch_size": 16, "lr": 0.01, "optimizer": "sgd", "schedule": "constant",
         "weight_decay": 1e-4, "patience": 5,
         "augment": {"crop_padding": 1, "flip": True, "mix": "mixup_or_cutmix"}}
    )  # fmt: skip
    assert (recipe.epochs, recipe.optimizer, recipe.lr) == (3, "sgd", 0.01)
    assert recipe.stem == "compact" and recipe.validation == "balanced"  # defaults
    assert recipe.augment == Augment(1, True, "mixup_or_cutmix", 1.0)
    assert recipe.as_dict()["augment"] == {
        "crop_padding": 1, "flip": True, "mix": "mixup_or_cutmix", "mix_alpha": 1.0,
    }  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.epochs = 4


@pytest.mark.parametrize(
    "recipe, block, unknown",
    [
        (ClassifierRecipe, {"test_time_flip": True}, "test_time_flip"),  # now under evaluate
        (ClassifierRecipe, {"augment": {"mixx": "mixup"}}, "mixx"),
        (AutoencoderRecipe, {"epoch": 3}, "epoch"),
        (SamplerRecipe, {"k": 3}, "k"),
    ],
)
def test_unknown_keys_are_refused_by_name(recipe, block, unknown):
    with pytest.raises(ValueError, match=f"unknown key\\(s\\) \\['{unknown}'\\]"):
        recipe.from_config(block)


def test_compute_leaves_threads_to_the_rule():
    assert Compute.from_config({"threads": 4, "device": "cpu"}) == Compute("cpu", "auto")
