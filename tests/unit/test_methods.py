"""Method ids: what each id means, and the grid of samplers x autoencoders x penalty."""

import pytest

from latentbalance.choices import ConfigError
from latentbalance.methods import expand_methods, parse_method, valid_method_ids


def test_method_ids():
    assert parse_method("smote-ae").autoencoder == "ae"
    assert parse_method("smote-pixel").autoencoder is None
    assert parse_method("smote-pixel").generates
    assert not parse_method("none").generates
    assert parse_method("weighted").class_weighted
    with pytest.raises(ValueError, match="valid ids: none"):
        parse_method("smote-gan")
    assert "smote-ae" in valid_method_ids()


def test_method_grid_expands_to_ids():
    ids = expand_methods(
        {
            "baselines": ["none", "smote-pixel"],
            "grid": {
                "samplers": ["smote", "adasyn"],
                "autoencoders": ["vae"],
                "penalty": [False, True],
            },
        }
    )
    assert ids == [
        "none",
        "smote-pixel",
        "smote-vae",
        "smote-vae+penalty",
        "adasyn-vae",
        "adasyn-vae+penalty",
    ]
    assert parse_method("adasyn-vae+penalty").autoencoder_dir == "vae-penalty"
    assert parse_method("smote-vae").autoencoder_dir == "vae-nopenalty"
    for bad in ["smote-pixel+penalty", "smote-ae+pen", "gan-ae"]:
        with pytest.raises(ValueError, match="valid ids"):
            parse_method(bad)


def test_a_method_twice_is_refused_naming_methods():
    grid = {"baselines": ["smote-ae"], "grid": {"samplers": ["smote"], "autoencoders": ["ae"]}}
    with pytest.raises(ConfigError, match="'methods' names smote-ae twice") as error:
        expand_methods(grid)
    assert error.value.key == "methods"


def test_labels_carry_the_settings_that_change_a_method():
    from latentbalance.methods import method_label

    # defaults: the bare id
    assert method_label("smote-ae", {"synthetic_share": 1.0, "target": "majority"}) == "smote-ae"
    assert method_label("smote-ae", {"synthetic_share": 0.25}) == "smote-ae (25 % synthetic)"
    assert method_label("adasyn-pixel", {"synthetic_share": 0.125}) == (
        "adasyn-pixel (12.5 % synthetic)"
    )
    assert method_label("ros", {"target": 1000, "synthetic_share": 0.5}) == "ros (to 1000)"
    official = {"penalty_kind": "official", "penalty_weight": 0.1}
    assert method_label("smote-ae+penalty", {}, official) == "smote-ae+penalty (official, λ 0.1)"
    # the penalty settings mean nothing to a method without the penalty
    assert method_label("smote-ae", {}, official) == "smote-ae"
    assert (
        method_label(
            "smote-vae+penalty",
            {"synthetic_share": 0.25, "target": 1000, "k_neighbors": 3},
            {"penalty_kind": "paper", "penalty_weight": 2.0},
        )
        == "smote-vae+penalty (paper, λ 2; 25 % synthetic; k = 3; to 1000)"
    )
    # baselines generate nothing: no sampler setting applies
    assert method_label("none", {"target": 1000, "synthetic_share": 0.25}) == "none"
    assert method_label("weighted", {"target": 1000}) == "weighted"
