"""Recipes: one frozen object per config block, the schema's defaults filled in, every value
checked against the schema when the recipe is built."""

import dataclasses

import pytest

from latentbalance.settings.recipes import (
    Augment,
    AutoencoderRecipe,
    ClassifierRecipe,
    Compute,
    EvaluationRecipe,
    HeadRecipe,
    LossRecipe,
    SamplerRecipe,
    classifier_settings,
)
from latentbalance.settings.schema import ConfigError, with_defaults

RECIPES = [
    AutoencoderRecipe,
    SamplerRecipe,
    Augment,
    ClassifierRecipe,
    EvaluationRecipe,
    Compute,
    LossRecipe,
    HeadRecipe,
]


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
    assert recipe.stem == "compact" and recipe.images_seen is None  # defaults
    assert recipe.augment == Augment(1, True, "mixup_or_cutmix", 1.0)
    assert recipe.as_dict()["augment"] == {
        "crop_padding": 1, "flip": True, "mix": "mixup_or_cutmix", "mix_alpha": 1.0,
    }  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.epochs = 4


@pytest.mark.parametrize(
    "recipe, block, key",
    [
        (ClassifierRecipe, {"test_time_flip": True}, "classifier.test_time_flip"),  # evaluate's
        (ClassifierRecipe, {"augment": {"mixx": "mixup"}}, "classifier.augment.mixx"),
        (AutoencoderRecipe, {"epoch": 3}, "autoencoder.epoch"),
        (SamplerRecipe, {"k": 3}, "sampler.k"),
    ],
)
def test_unknown_keys_are_refused_by_name(recipe, block, key):
    with pytest.raises(ConfigError) as error:
        recipe.from_config(block)
    parent, _, unknown = key.rpartition(".")
    assert error.value.key == key
    assert f"unknown key(s) '{unknown}' in '{parent}'" in str(error.value)


@pytest.mark.parametrize(
    "recipe, block, key, message",
    [
        (ClassifierRecipe, {"optimizer": "rmsprop"}, "classifier.optimizer",
         "unknown classifier.optimizer 'rmsprop'; choose one of adam, sgd"),
        (ClassifierRecipe, {"augment": {"mix": "blend"}}, "classifier.augment.mix",
         "unknown classifier.augment.mix 'blend'; choose one of none, mixup, cutmix,"),
        (Compute, {"precision": "fp8"}, "compute.precision", "unknown compute.precision 'fp8'"),
        (AutoencoderRecipe, {"epochs": 0}, "autoencoder.epochs", "0 is less than the minimum"),
        (SamplerRecipe, {"target": "most"}, "sampler.target", "'most' is none of the forms"),
        (HeadRecipe, {"lr": "fast"}, "heads.lr", "'fast' is not of type 'number'"),
    ],
)  # fmt: skip
def test_a_value_the_schema_refuses_stops_the_recipe_naming_the_key(recipe, block, key, message):
    """Checked once, when the recipe is built: the code that reads it does not check again."""
    with pytest.raises(ConfigError) as error:
        recipe.from_config(block)
    assert error.value.key == key and message in str(error.value)


def test_compute_leaves_threads_to_the_rule():
    assert Compute.from_config({"threads": 4, "device": "cpu"}) == Compute("cpu", "auto")


def test_a_methods_classifier_trains_its_own_recipe_and_sees_no_other_methods():
    own_recipes = {"none": {"epochs": 40}, "ros": {"batch_size": 64, "augment": {"flip": False}}}
    block = with_defaults("classifier", {"epochs": 30, "by_method": own_recipes})
    own = classifier_settings(block, "none")
    assert own["epochs"] == 40 and "by_method" not in own
    assert classifier_settings(block, "smote-ae") == {**own, "epochs": 30}
    assert ClassifierRecipe.from_config(own).epochs == 40
    ros = ClassifierRecipe.from_config(classifier_settings(block, "ros"))
    # augment is laid over key by key: the flip is the method's, the crop the block's
    assert (ros.batch_size, ros.epochs, ros.augment.flip) == (64, 30, False)
    assert ros.augment.crop_padding == block["augment"]["crop_padding"]


def test_an_equal_image_budget_gives_a_small_fit_set_more_epochs():
    """``images_seen``: every method draws as many images, so `none` on 1,242 imbalanced images
    trains as many optimiser steps as `ros` on 5,000."""
    budget = ClassifierRecipe.from_config({"images_seen": 40000, "epochs": 3})
    assert budget.for_fit_set(1242).epochs == 32
    assert budget.for_fit_set(5000).epochs == 8
    assert budget.for_fit_set(100000).epochs == 1  # at least one
    plain = ClassifierRecipe.from_config({"epochs": 3})
    assert plain.for_fit_set(1242) is plain
