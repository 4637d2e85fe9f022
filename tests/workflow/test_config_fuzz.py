"""Every config the schema accepts either plans a run or stops before any job with one ConfigError
that names the key: configs drawn from the schema itself (PyPI hypothesis-jsonschema).

The project's checks (``check_config``, what common.smk calls) run in-process for a few hundred
drawn configs; the real ``snakemake --dry-run`` for a handful, which must agree with them. The
examples are fixed (derandomize): CI must not pass or fail by chance. Raise ``max_examples`` (or
drop derandomize) to search wider.
"""

import copy

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema
from jsonschema import Draft202012Validator

from latentbalance.settings.check import check_config
from latentbalance.settings.schema import ConfigError, schema

from helpers import copy_workflow, snakemake, write_config

pytestmark = pytest.mark.workflow

FUZZ = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def drawn_from(node: dict, max_datasets: int = 3) -> st.SearchStrategy:
    """Configs the schema ``node`` accepts. hypothesis-jsonschema draws each setting; the mappings
    of settings are put together here, because from_schema on the whole config takes ~0.4 s an
    example (mostly the dataset blocks' optional keys), too slow for hundreds of them."""
    properties = node.get("properties")
    plain = not {"oneOf", "anyOf", "allOf", "not", "if"} & set(node)  # no rule across its keys
    closed = node.get("additionalProperties") is False
    if plain and node.get("type") == "object" and properties and closed:
        required = set(node.get("required", ()))
        drawn = {name: drawn_from(child, max_datasets) for name, child in properties.items()}
        return st.fixed_dictionaries(
            {name: drawn[name] for name in required},
            optional={name: drawn[name] for name in drawn if name not in required},
        )
    if node.get("type") == "object" and "propertyNames" in node:  # datasets, keyed by name
        return st.dictionaries(
            st.from_regex(node["propertyNames"]["pattern"], fullmatch=True),
            drawn_from(node["additionalProperties"], max_datasets),
            min_size=node.get("minProperties", 0),
            max_size=max_datasets,
        )
    return from_schema(node)


def assert_names_its_key(error: ConfigError):
    message, name = str(error), error.key.split(".")[-1].split("[")[0]
    assert name in message or repr(name)[1:-1] in message, message
    assert "\n" not in message, message


@settings(FUZZ, max_examples=400)
@given(drawn_from(schema()))
def test_every_config_the_schema_accepts_completes_or_names_the_key(config):
    assert Draft202012Validator(schema()).is_valid(config)  # drawn values are the schema's
    try:
        checked = check_config(copy.deepcopy(config))
    except ConfigError as error:
        assert_names_its_key(error)
        return
    # complete: every block and key the rules read is filled in
    for key, node in schema()["properties"].items():
        assert key in checked or "default" not in node, key
    assert set(checked["classifier"]) == set(schema()["properties"]["classifier"]["properties"])
    for dataset in checked["datasets"].values():
        assert "test_fraction" in dataset and "counts_are" in dataset["imbalance"]


def any_json():
    leaves = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8)
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(max_size=5) | st.integers(), inner)
        ),
        max_leaves=6,
    )


def paths(value, path=()):
    """Every place in a config, top-level keys and nested ones."""
    if path:
        yield path
    if isinstance(value, dict):
        for name, child in value.items():
            yield from paths(child, (*path, name))


@settings(FUZZ, max_examples=300)
@given(drawn_from(schema()), st.data())
def test_any_value_anywhere_completes_or_names_the_key(config, data):
    """One setting replaced by any YAML value (NaN and infinities included) still gets a named
    key, never a crash: what `methods: []` did inside Snakemake's validator."""
    path = data.draw(st.sampled_from(sorted(paths(config), key=str)))
    parent = config
    for name in path[:-1]:
        parent = parent[name]
    parent[path[-1]] = data.draw(any_json())
    try:
        check_config(config)
    except ConfigError as error:
        assert_names_its_key(error)


# The dry runs plan every job, so they draw one or two datasets and at most 3 folds: a
# 100-fold, 24-method grid plans for minutes. Everything else is drawn as above.
SMALL = copy.deepcopy(schema())
SMALL["properties"]["folds"]["maximum"] = 3


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return copy_workflow(tmp_path_factory.mktemp("fuzz"))


@settings(FUZZ, max_examples=8, phases=[Phase.explicit, Phase.generate])
@given(config=drawn_from(SMALL, max_datasets=2))
def test_snakemake_dry_run_agrees_with_the_checks(workdir, config):
    """Snakemake plans exactly the configs the checks pass, and stops on the others with the
    check's message, not a traceback of its own."""
    path = write_config(workdir / "drawn.yaml", config)
    result = snakemake(workdir, "--configfile", str(path), "--dry-run", check=False)
    output = result.stdout + result.stderr
    try:
        check_config(copy.deepcopy(config))
    except ConfigError as error:
        assert result.returncode != 0, output
        assert "ConfigError in file" in output and str(error) in output, output
        assert "Traceback" not in output, output
    else:
        assert result.returncode == 0, output
        assert "This was a dry-run" in output
