"""The config check: the schema's complaint or a rule beyond it as one ConfigError naming the key,
and the schema's defaults filled in. (Drawn from the schema: tests/workflow/test_config_fuzz.py;
through Snakemake: tests/workflow/test_bad_input.py.)"""

import pytest

from latentbalance.settings.check import check_config, check_results_writable
from latentbalance.settings.schema import ConfigError

DIGITS = {"source": "digits", "imbalance": {"ratio": 10, "max_per_class": 60}}


def refusal(**config) -> ConfigError:
    with pytest.raises(ConfigError) as error:
        check_config({"datasets": {"digits": DIGITS}, **config})
    return error.value


def test_defaults_are_filled_in_for_every_form_of_methods():
    listed = check_config({"datasets": {"digits": dict(DIGITS)}, "methods": ["none"]})
    assert listed["methods"] == ["none"] and listed["folds"] == 5
    assert listed["datasets"]["digits"]["imbalance"]["counts_are"] == "training_pool"
    assert listed["classifier"]["augment"]["mix"] == "none"
    grid = {"grid": {"samplers": ["smote"], "autoencoders": ["ae"]}}
    gridded = check_config({"datasets": {"digits": dict(DIGITS)}, "methods": grid})
    assert gridded["methods"]["baselines"] == []
    assert gridded["methods"]["grid"]["penalty"] == [False]


def test_a_value_that_fails_every_form_names_the_key_instead_of_crashing():
    # Snakemake's validate filled the grid form's defaults into the list: AttributeError
    assert refusal(methods=[]).key == "methods"
    error = refusal(sampler={"target": "most"})
    assert error.key == "sampler.target" and "'most' is none of the forms" in str(error)
    assert "'majority'" in str(error)  # the description says what it takes


def test_unknown_key_is_named_with_the_keys_there():
    error = refusal(autoencoder={"epoch": 3})
    assert error.key == "autoencoder.epoch"
    assert "'epoch' in 'autoencoder'" in str(error) and "epochs" in str(error)


@pytest.mark.parametrize(
    "config, key",
    [
        ({"seed": -1}, "seed"),
        ({"run_folds": [5]}, "run_folds"),
        ({"classifier": {"by_method": {"none@crt": {"epochs": 40}}}}, "classifier.by_method"),
        ({"classifier": {"by_method": {"la_loss": {"epochs": 40}}}}, "classifier.by_method"),
        (
            {"classifier": {"by_method": {"ros": {"stem": "small"}}}},
            "classifier.by_method.ros.stem",
        ),
        ({"classifier": {"by_method": {"ros": {"epochs": 0}}}}, "classifier.by_method.ros.epochs"),
        ({"classifier": {"by_method": {"ros": {"epoch": 9}}}}, "classifier.by_method.ros.epoch"),
        ({"classifier": {"epochs_by_method": {"none": 40}}}, "classifier.epochs_by_method"),
        ({"classifier": {"lr": float("inf")}}, "classifier.lr"),
        ({"datasets": {7: DIGITS}}, "datasets.7"),
        ({"datasets": {"..": DIGITS}}, "datasets"),
        ({"datasets": {"digits": {**DIGITS, "channels": 3}}}, "datasets.digits.channels"),
        ({"datasets": {"parts": {**DIGITS, "source": "folder"}}}, "datasets.parts.root"),
    ],
)
def test_rules_beyond_the_types_name_the_key(config, key):
    assert refusal(**config).key == key


def test_text_that_snakemake_config_leaves_in_a_list_is_read_as_the_type_the_schema_wants():
    # `--config run_folds=[1] classifier={lr: 1e-3}` arrives as text inside lists and mappings
    config = {
        "datasets": {"digits": dict(DIGITS)},
        "run_folds": ["1", "0"],
        "classifier": {"lr": "1e-3", "epochs": "3", "augment": {"flip": "true"}},
    }
    checked = check_config(config)
    assert checked["run_folds"] == [1, 0]
    assert checked["classifier"]["lr"] == 0.001 and checked["classifier"]["epochs"] == 3
    assert checked["classifier"]["augment"]["flip"] is True
    assert refusal(run_folds=["one"]).key == "run_folds[0]"
    assert refusal(run_folds=["7"]).key == "run_folds"  # typed, then beyond the folds


def test_the_old_name_of_a_renamed_key_names_the_new_one():
    error = refusal(classifiers=["resnet18"])
    assert error.key == "classifiers" and "'architectures'" in str(error)
    assert check_config({"datasets": {"digits": dict(DIGITS)}})["architectures"] == ["resnet18"]


def test_a_results_folder_that_cannot_be_written_stops_the_run(tmp_path):
    """Before the first job, naming the folder and the fix. (A read-only folder, which root can
    write to all the same: tests/workflow/test_bad_input.py makes one immutable.)"""
    results = tmp_path / "results"
    check_results_writable(results)  # not made yet: the folder that will hold it is writable
    results.write_text("a file where the results folder goes")
    with pytest.raises(PermissionError, match=f"cannot write results to {results}.*--directory"):
        check_results_writable(results)


def test_a_key_with_a_line_break_is_quoted_so_the_message_stays_one_line():
    dataset = {"source": "mnist5k", "imbalance": {"ratio": 10, "max_per_class": 60}}
    config = {"datasets": {"d": dataset}, "classifier": {"by_method": {}}}
    config["classifier"]["by_method"]["none\n"] = {}
    with pytest.raises(ConfigError) as refused:
        check_config(config)
    assert "\n" not in str(refused.value)
    assert "'none\\n'" in str(refused.value) and "by_method" in str(refused.value)
