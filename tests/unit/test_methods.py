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
