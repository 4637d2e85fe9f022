"""Checking a config before any job runs: the schema (workflow/schemas/config.schema.yaml), its
defaults, then what a schema cannot say (method ids, the folds that ``run_folds`` names, ...);
and that the run's results can be written.

Whatever the config holds, ``check_config`` either completes it or raises one ``ConfigError`` whose
message names the key and the fix; no other exception escapes (tests/workflow/test_config_fuzz.py
draws configs from the schema to hold it to that). The Snakefile calls it on every parse, so it
is kept free of torch.

Snakemake's own ``validate`` is not used: its default-filling validator calls ``setdefault`` on
whatever a ``properties`` keyword meets, so a value that fails one form of a ``oneOf`` (``methods:
[]`` against the grid form) crashes with an AttributeError that names no key.
"""

from __future__ import annotations

import copy
import functools
import math
import tempfile
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match

from ..nets.pretrained import check_pretrained
from ..rebalance.methods import expand_methods, valid_method_ids
from .recipes import NETWORK_KEYS
from .schema import ConfigError, check_source_settings, key_name, refusal, schema, validate


def check_config(config: dict) -> dict:
    """Refuse a config that cannot run with one ConfigError naming the key; otherwise fill in the
    schema's defaults (in place, as Snakemake's ``validate`` does) and return the config."""
    check_renamed_keys(config)
    read_command_line_text(config)
    check_schema(config)
    fill_defaults(config)
    for check in SEMANTIC_CHECKS:
        check(config)
    return config


# --- the schema ---------------------------------------------------------------------------------


@functools.cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(schema())


# keys an older latentbalance read: old name (a dotted path) -> what to write instead
RENAMED = {
    "classifiers": "'architectures' (the ResNets to train; 'classifier' is how they train)",
    "classifier.epochs_by_method": "'classifier.by_method', a recipe per method: "
    "{none: {epochs: 40}} for {none: 40}",
    "classifier.val_fraction": "the top-level 'validation_fraction'",
    "classifier.validation": "the top-level 'validation_fraction' (validation is always the "
    "fold's own real images, the same for every method)",
    "autoencoder.val_fraction": "the top-level 'validation_fraction' (the autoencoders pick "
    "their epoch on the same real validation images as the classifiers)",
}


def check_renamed_keys(config: dict) -> None:
    """A config written for an older latentbalance: a key it no longer reads stops with what
    replaced it (the schema would only call it unknown)."""
    for old, new in RENAMED.items():
        *parents, key = old.split(".")
        block = config
        for parent in parents:
            block = block.get(parent) if isinstance(block, dict) else None
        if isinstance(block, dict) and key in block:
            raise ConfigError(
                old, f"'{old}' is no longer read: use {new} instead, and remove '{old}'"
            )


def check_schema(config: dict) -> None:
    """The schema's most relevant complaint (jsonschema's ``best_match``) as a ConfigError."""
    error = best_match(_validator().iter_errors(config))
    if error is not None:
        raise refusal(error)


def read_command_line_text(config: dict) -> None:
    """Type the text that Snakemake's ``--config`` leaves inside lists and mappings.

    Snakemake types a top-level ``--config epochs=5`` but reads ``run_folds=[1]`` with YAML's base
    loader, as ``["1"]``. Where the schema wants a number or boolean and such text reads as one,
    it becomes one (in place); anything else is left for ``check_schema`` to refuse."""
    for _ in range(1000):  # each pass types what the last one uncovered (a list inside a mapping)
        if not any([_typed(error, config) for error in _type_errors(config)]):
            return


def _type_errors(config: dict) -> list[ValidationError]:
    def walk(errors):
        for error in errors:
            if (
                error.validator == "type"
                and isinstance(error.instance, str)
                and error.absolute_path
            ):
                yield error
            yield from walk(error.context or ())  # the forms of a oneOf / anyOf

    return list(walk(_validator().iter_errors(config)))


def _typed(error: ValidationError, config: dict) -> bool:
    """Whether the text at the error's path read as the type it wanted and replaced it."""
    value = _read(error.instance)
    wanted = error.validator_value
    wanted = wanted if isinstance(wanted, list) else [wanted]
    if isinstance(value, str) or not any(_validator().is_type(value, kind) for kind in wanted):
        return False
    *parents, last = error.absolute_path
    holder = config
    for part in parents:
        holder = holder[part]
    holder[last] = value
    return True


def _read(text: str):
    """Text as Snakemake reads a top-level ``--config`` value: int, float, else YAML."""
    for read in (int, float, yaml.safe_load):
        try:
            return read(text)
        except (ValueError, yaml.YAMLError):
            continue
    return text


def _set_defaults(validator, properties, instance, node):
    # Only into mappings: jsonschema also walks the forms of a oneOf that do not match (the grid
    # form of `methods` when it is a list), which is where Snakemake's validate crashes.
    if validator.is_type(instance, "object"):
        for name, child in properties.items():
            if "default" in child:
                instance.setdefault(name, copy.deepcopy(child["default"]))
    yield from Draft202012Validator.VALIDATORS["properties"](validator, properties, instance, node)


@functools.cache
def _default_filler() -> Draft202012Validator:
    filling = validators.extend(Draft202012Validator, {"properties": _set_defaults})
    return filling(schema())


def fill_defaults(config: dict) -> None:
    """Fill in the schema's defaults, nested blocks included, of a config the schema accepts."""
    for _ in _default_filler().iter_errors(config):
        pass  # filling happens during the walk; the config was checked before


# --- what the schema cannot say ------------------------------------------------------------------


def check_numbers_finite(config, path=()) -> None:
    """YAML's .nan and .inf are numbers to JSON schema, and NaN passes every bound."""
    if isinstance(config, float) and not math.isfinite(config):
        key = key_name(path)
        raise ConfigError(key, f"'{key}' is {config}; give a finite number")
    if isinstance(config, dict):
        for name, value in config.items():
            check_numbers_finite(value, (*path, name))
    elif isinstance(config, list):
        for position, value in enumerate(config):
            check_numbers_finite(value, (*path, position))


def check_dataset_names(config) -> None:
    """YAML reads an unquoted name such as 2024 as a number, and JSON schema checks only names
    that are text; rules look datasets up by the text of their folder name."""
    for name in config["datasets"]:
        if not isinstance(name, str):
            raise ConfigError(
                f"datasets.{name}",
                f"dataset name {name!r} in 'datasets' is read as a {type(name).__name__}; quote "
                f"it ('{name}') or start it with a letter",
            )


def check_dataset_sources(config) -> None:
    for name, dataset in config["datasets"].items():
        check_source_settings(dataset["source"], dataset, where=f"datasets.{name}")


def check_methods(config) -> None:
    """Every method id is known and listed once, also once the grid is expanded."""
    expand_methods(config["methods"])


def check_by_method(config) -> None:
    """Each id named is a method that trains a classifier (a misspelt id would silently do
    nothing; a head trains none: its backbone's recipe counts), and its recipe holds training
    keys of the ``classifier`` block, with values the schema allows."""
    key = "classifier.by_method"
    for method, recipe in config["classifier"]["by_method"].items():
        backbone, at, _ = method.partition("@")
        if at:
            raise ConfigError(
                key,
                f"'{key}' names {method!r}: a head re-trains only the last layer of the "
                f"classifier of {backbone!r}; give the recipe to {backbone!r}",
            )
        if method not in valid_method_ids():
            raise ConfigError(
                key,
                f"'{key}' names {method!r}, no method id; valid: {', '.join(valid_method_ids())}",
            )
        fixed = sorted(set(recipe) & {*NETWORK_KEYS, "by_method"})
        if fixed:
            raise ConfigError(
                f"{key}.{method}.{fixed[0]}",
                f"'{key}.{method}' sets {fixed[0]!r}, which is the network's, the same for every "
                f"method: set it in 'classifier' (by_method takes {', '.join(_training_keys())})",
            )
        validate("classifier", recipe, where=f"{key}.{method}")


def _training_keys() -> list[str]:
    keys = schema()["properties"]["classifier"]["properties"]
    return [k for k in keys if k not in (*NETWORK_KEYS, "by_method")]


def check_run_folds(config) -> None:
    beyond = [k for k in config["run_folds"] or () if k >= config["folds"]]
    if beyond:
        raise ConfigError(
            "run_folds",
            f"'run_folds' names fold(s) {beyond}, but 'folds' is {config['folds']}: folds are "
            f"numbered 0 to {config['folds'] - 1}; lower them or raise 'folds'",
        )


def check_fold_training_counts(config) -> None:
    for name, dataset in config["datasets"].items():
        imbalance = dataset["imbalance"]
        if imbalance["counts_are"] == "fold_training" and "counts" not in imbalance:
            key = f"datasets.{name}.imbalance.counts_are"
            raise ConfigError(
                key,
                f"'{key}: fold_training' needs explicit 'counts' (one per class), not 'ratio' + "
                "'max_per_class'; give 'counts' or set 'counts_are: training_pool'",
            )


def check_pretrained_weights(config) -> None:
    """``classifier.weights: imagenet`` with its stem, and its weights file there (``pretrained``):
    a missing file stops here, not in every classifier job."""
    check_pretrained(config["classifier"], config["architectures"])


SEMANTIC_CHECKS = (
    check_numbers_finite,
    check_dataset_names,
    check_dataset_sources,
    check_methods,
    check_by_method,
    check_run_folds,
    check_fold_training_counts,
    check_pretrained_weights,
)


def check_results_writable(folder: str | Path = "results") -> None:
    """Refuse a results folder that cannot be written (a read-only mount, another owner) when the
    workflow is parsed, instead of with a bare PermissionError once jobs run. A folder not made
    yet is judged by the one that will hold it."""
    folder = Path(folder)
    where = folder if folder.exists() else folder.parent
    try:
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as error:
        raise PermissionError(
            f"cannot write results to {where.resolve()} ({error.strerror}): run Snakemake in "
            "a directory you can write to (--directory DIR) or fix that folder's permissions"
        ) from error
