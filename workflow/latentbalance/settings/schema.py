"""The allowed values and defaults of every setting, read from the config schema
(workflow/schemas/config.schema.yaml): the one place they are written. Library functions that can
be called without the workflow (the CLI, the tests, benchmarks) check their arguments here, so a
wrong value gets the same message wherever it comes from.

Kept free of torch: the Snakefile imports it through ``methods`` every time it is parsed."""

from __future__ import annotations

import copy
import functools
from pathlib import Path

import yaml

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
    ``allowed("classifier.stem")``, ``allowed("classifiers")``."""
    node = setting(path)
    return tuple(node["enum"] if "enum" in node else node["items"]["enum"])


def check(path: str, value) -> None:
    """Refuse a value the schema does not allow for ``path``, naming the key and the choices."""
    choices = allowed(path)
    if value not in choices:
        raise ConfigError(
            path, f"unknown {path} {value!r}; choose one of {', '.join(map(str, choices))}"
        )


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
