"""Method ids: what each id means, and the grid of samplers x autoencoders x penalty."""

import pytest

from latentbalance.rebalance.methods import (
    HEADS,
    LOSS_METHODS,
    READERS,
    expand_methods,
    parse_method,
    settings_read_by,
    valid_method_ids,
)
from latentbalance.settings.schema import ConfigError, allowed, with_defaults


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
    from latentbalance.rebalance.methods import method_label

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
    # a recipe of its own: the model and every head on its classifier say so, others do not
    own = {"none": {"epochs": 40}, "ros": {"images_seen": 20000, "augment": {"mix": "none"}}}
    assert method_label("none", by_method=own) == "none (40 epochs)"
    assert method_label("none@eos", by_method=own) == "none@eos (40 epochs)"
    assert method_label("ros@crt", by_method=own) == "ros@crt (augment.mix none; 20000 images seen)"
    assert method_label("smote-ae@crt", by_method=own) == "smote-ae@crt"
    # baselines generate nothing: no sampler setting applies
    assert method_label("none", {"target": 1000, "synthetic_share": 0.25}) == "none"
    assert method_label("weighted", {"target": 1000}) == "weighted"


def test_loss_and_head_ids_say_what_trains_and_on_which_backbone():
    assert parse_method("la-loss").loss == "la-loss" and not parse_method("la-loss").generates
    headed = parse_method("smote-ae+penalty@eos")
    assert (headed.head, headed.backbone, headed.autoencoder_dir) == (
        "eos",
        "smote-ae+penalty",
        "ae-penalty",
    )
    assert parse_method("ldam-drw@crt").loss == "ldam-drw"
    for bad in ["none@svm", "none@crt@eos", "@crt", "la-loss+penalty", "crt"]:
        with pytest.raises(ConfigError, match="valid ids|unknown head"):
            parse_method(bad)
    # one loss is one method: Balanced Softmax is la-loss at its default tau
    with pytest.raises(ConfigError, match="list la-loss"):
        parse_method("balanced-softmax")


def test_labels_of_losses_and_heads_name_their_settings_only_when_not_the_papers():
    from latentbalance.rebalance.methods import method_label

    assert method_label("la-loss", losses={"la_tau": 1.0}) == "la-loss"
    assert method_label("la-loss", losses={"la_tau": 1.5}) == "la-loss (τ 1.5)"
    # tau means nothing to the other losses; the re-weighting is every DRW method's
    assert method_label("mixup-drw", losses={"la_tau": 1.5}) == "mixup-drw"
    assert method_label("ldam-drw", losses={"drw_from": 0.5}) == "ldam-drw (re-weighted from 50%)"
    assert method_label("mixup-drw", losses={"drw_from": 0.5}) == "mixup-drw (re-weighted from 50%)"
    assert method_label("remix-drw", losses={"remix_kappa": 2}) == "remix-drw (κ 2)"
    assert method_label("mixup-drw", losses={"remix_kappa": 2}) == "mixup-drw"
    assert method_label("none@eos", heads={"eos_neighbors": 5}) == "none@eos (eos k = 5)"
    assert method_label("none@crt", heads={"eos_neighbors": 5}) == "none@crt"
    assert method_label("none@crt", heads={"crt_lr": 0.1}) == "none@crt (crt lr 0.1)"
    assert method_label("none@eos", heads={"crt_lr": 0.1}) == "none@eos"
    assert method_label("smote-ae@smote-feat", {"synthetic_share": 0.25}) == (
        "smote-ae@smote-feat (25 % synthetic)"
    )


def test_each_job_is_given_only_the_settings_it_reads():
    """A setting reruns only the jobs that read it: the VAE's beta no plain autoencoder, la-loss's
    tau no other method, EOS's neighbours no crt."""
    autoencoder = with_defaults("autoencoder", {})
    plain = settings_read_by({"ae", "nopenalty"}, "autoencoder", autoencoder)
    assert plain.keys() == autoencoder.keys() - {
        "kl_weight",
        "mmd_weight",
        "penalty_kind",
        "penalty_weight",
    }
    assert settings_read_by({"vae", "penalty"}, "autoencoder", autoencoder).keys() == (
        autoencoder.keys() - {"mmd_weight"}
    )
    losses = with_defaults("losses", {})
    assert settings_read_by(parse_method("la-loss@eos").parts, "losses", losses) == {"la_tau": 1.0}
    assert settings_read_by(parse_method("smote-ae").parts, "losses", losses) == {}
    assert settings_read_by(parse_method("mixup-drw").parts, "losses", losses) == {
        "drw_beta": 0.9999,
        "drw_from": 0.8,
    }
    assert settings_read_by(parse_method("remix-drw").parts, "losses", losses).keys() == {
        "drw_beta",
        "drw_from",
        "remix_kappa",
        "remix_tau",
    }
    heads = with_defaults("heads", {})
    assert settings_read_by({"crt"}, "heads", heads).keys() == heads.keys() - {
        "eos_neighbors",
        "smote_neighbors",
    }
    assert "eos_neighbors" in settings_read_by({"eos"}, "heads", heads)
    # cRT's SGD rate reruns cRT alone
    assert "crt_lr" not in settings_read_by({"eos"}, "heads", heads)
    assert "crt_lr" not in settings_read_by({"smote-feat"}, "heads", heads)


def test_the_readers_table_names_the_schemas_keys_and_parts():
    parts = set(allowed("methods.grid.autoencoders")) | {"penalty", "drw"}
    parts |= set(LOSS_METHODS) | set(HEADS)
    for block, readers in READERS.items():
        assert readers.keys() <= with_defaults(block, {}).keys(), block
        assert {reader.part for reader in readers.values()} <= parts, block
    # every loss setting belongs to one loss: a method without it is given none of them
    assert READERS["losses"].keys() == with_defaults("losses", {}).keys()
