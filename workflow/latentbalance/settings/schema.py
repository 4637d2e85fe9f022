"""The allowed values and defaults of every setting, read from the config schema
(workflow/schemas/config.schema.yaml): the one place they are written. Library functions that can
be called without the workflow (the CLI, the tests, benchmarks) check their arguments here, so a
wrong value gets the same message wherever it comes from.

Kept free of torch: the Snakefile imports it through ``methods`` every time it is parsed."""

from __future__ import annotations

import copy
import functools
import reprlib
from pathlib import Path

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schemas" / "config.schema.yaml"


class ConfigError(ValueError):
    """A config value that cannot run; the message names the key (``key``, e.g.
    ``datasets.digits.imbalance``) and the fix."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


@functools.cache
def schema() -> dict:
    if not SCHEMA_FILE.is_file():
        raise FileNotFoundError(
            f"the config schema is not at {SCHEMA_FILE}: install latentbalance from its "
            "repository with `pip install -e .`"
        )
    return yaml.safe_load(SCHEMA_FILE.read_text())


def setting(path: str) -> dict:
    """The schema of one setting by its config path, e.g. ``classifier.schedule``; ``*`` steps
    into a mapping's values (``datasets.*.source``), and where a setting may take several forms
    (``methods``: a list or a grid) the form that has the next key is taken."""
    node = schema()
    for name in path.split("."):
        if name == "*":
            node = node["additionalProperties"]
            continue
        forms = node.get("oneOf", [node])
        node = next(f["properties"][name] for f in forms if name in f.get("properties", {}))
    return node


def allowed(path: str) -> tuple:
    """The values a setting, or each item of a list setting, may take: its ``enum``, e.g.
    ``allowed("classifier.stem")``, ``allowed("architectures")``."""
    node = setting(path)
    return tuple(node["enum"] if "enum" in node else node["items"]["enum"])


def check(path: str, value) -> None:
    """Refuse a value the schema does not allow for ``path``, naming the key and the choices."""
    choices = allowed(path)
    if value not in choices:
        raise _unknown_value(path, value, choices)


def _unknown_value(key: str, value, choices) -> ConfigError:
    return ConfigError(
        key, f"unknown {key} {value!r}; choose one of {', '.join(map(str, choices))}"
    )


@functools.cache
def _validator(path: str) -> Draft202012Validator:
    return Draft202012Validator(setting(path))


def validate(path: str, block: dict, where: str | None = None) -> None:
    """Refuse a config block that the schema of setting ``path`` (e.g. ``classifier``) does not
    allow, with one ConfigError naming the key (``classifier.augment.mix``; the block found at
    ``where``, when it is not ``path``)."""
    error = best_match(_validator(path).iter_errors(block))
    if error is not None:
        raise refusal(error, where=(where or path).split("."))


def refusal(error: ValidationError, where=()) -> ConfigError:
    """A schema complaint (a jsonschema error in the block at config path ``where``) as a
    ConfigError that names the key and what it takes."""
    path = (*where, *error.absolute_path)
    if error.validator == "additionalProperties":
        return _unknown_key(error, path)
    key = key_name(path)
    if error.validator == "enum":
        return _unknown_value(key, error.instance, error.validator_value)
    if error.validator in ("oneOf", "anyOf"):
        what = f"{_short(error.instance)} is none of the forms it can take"
    else:
        what = error.message
    return ConfigError(key, f"'{key}': {what}; {_help(path)}")


# sources read from image files: the only ones that resize or convert
FILE_SOURCES = ("mvtec", "folder")


def check_source_settings(source: str, settings: dict, where: str = "") -> None:
    """Refuse settings that do not apply to a dataset's ``source`` (``settings``: its config
    block), naming the key under ``where`` (e.g. ``datasets.parts``): the config check calls it
    at parse time, so the mistake does not wait for the download job."""
    check("datasets.*.source", source)
    prefix = f"{where}." if where else ""
    if source not in FILE_SOURCES:
        for key in ("image_size", "channels"):
            if settings.get(key) is not None:
                raise ConfigError(
                    f"{prefix}{key}",
                    f"'{prefix}{key}' applies to folder and mvtec datasets only; remove it from "
                    f"this {source} dataset",
                )
    if source == "folder" and settings.get("root") is None:
        raise ConfigError(
            f"{prefix}root",
            f"a folder dataset needs '{prefix}root': the folder that holds one subfolder per class",
        )


def with_defaults(path: str, block: dict) -> dict:
    """A config block with the schema's defaults filled in, nested blocks included (what
    Snakemake's ``validate`` does to the whole config)."""
    return _fill(setting(path), block)


def _fill(node: dict, block: dict) -> dict:
    filled = dict(block)
    for key, child in node.get("properties", {}).items():
        if key not in filled and "default" in child:
            filled[key] = copy.deepcopy(child["default"])
        if child.get("type") == "object" and isinstance(filled.get(key), dict):
            filled[key] = _fill(child, filled[key])
    return filled


def _unknown_key(error: ValidationError, path) -> ConfigError:
    known = sorted(error.schema.get("properties", {}))
    unknown = sorted(map(str, set(error.instance) - set(known)))
    parent = key_name(path)
    key = ".".join([parent, unknown[0]]) if parent else unknown[0]
    where = f"in '{parent}'" if parent else "at the top level"
    return ConfigError(
        key,
        f"unknown key(s) {', '.join(map(repr, unknown))} {where}: misspelt? The keys there are "
        f"{', '.join(known)} (config/README.md)",
    )


def key_name(path) -> str:
    """A config path as written in messages and config/README.md: ``datasets.digits.imbalance``,
    ``run_folds[1]``."""
    name = ""
    for part in path:
        # a key with a line break or tab in it is quoted, so the message stays one line
        part = part if isinstance(part, int) or str(part).isprintable() else repr(part)
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name


def _help(path) -> str:
    """What the key is for (its schema description), which says what it takes."""
    node = schema()
    for part in path:
        if isinstance(part, int):
            continue  # an item of a list: the list's description covers it
        forms = node.get("oneOf", [node])
        named = [f["properties"][part] for f in forms if part in f.get("properties", {})]
        if named:
            node = named[0]
        elif isinstance(node.get("additionalProperties"), dict):
            node = node["additionalProperties"]  # a dataset's block, under its own name
    description = node.get("description")
    return f"expected: {description}" if description else "see config/README.md"


def _short(value) -> str:
    short = reprlib.Repr()
    short.maxstring = short.maxother = 40
    return short.repr(value)
