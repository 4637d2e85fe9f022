"""What the summary keeps beside the leaderboard: the configuration it was run with."""

import yaml

from latentbalance.summary import config_yaml


def test_saved_configuration_reruns_as_a_config_file():
    config = {"seed": 7, "datasets": {"digits": {"source": "digits"}}, "methods": ["none"]}
    text = config_yaml(config)
    assert text.startswith("# The configuration")
    assert yaml.safe_load(text) == config
    assert list(yaml.safe_load(text)) == ["seed", "datasets", "methods"]  # the config's order
