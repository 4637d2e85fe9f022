"""The command line's declaration and its choices. (The real command run: tests/workflow/
test_command_line.py.)"""

import pytest

from latentbalance.cli import build_parser, skipped_file
from latentbalance.settings.schema import allowed, setting

from helpers import REPO


def test_the_console_script_is_declared():
    text = (REPO / "pyproject.toml").read_text()
    assert 'latentbalance = "latentbalance.cli:main"' in text


def test_the_command_lines_choices_are_the_configs():
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    options = {name: {a.dest: a for a in commands[name]._actions} for name in commands}
    for name in ("predict", "evaluate"):
        assert tuple(options[name]["device"].choices) == allowed("compute.device")
        assert tuple(options[name]["precision"].choices) == allowed("compute.precision")
    assert tuple(options["evaluate"]["testset"].choices) == allowed("testsets")


def test_inspect_defaults_are_the_configs():
    inspect = build_parser().parse_args(["inspect", "data/my-parts"])
    assert inspect.test_fraction == setting("datasets.*.test_fraction")["default"]
    assert inspect.seed == setting("seed")["default"]
    assert inspect.mvtec is None and inspect.write is None


def test_a_test_fraction_outside_0_and_1_is_refused(capsys):
    with pytest.raises(SystemExit):
        build_parser().parse_args(["inspect", "data", "--test-fraction", "1"])
    assert "--test-fraction: must be between 0 and 1, not 1" in capsys.readouterr().err


def test_skipped_files_are_listed_beside_the_predictions():
    assert skipped_file("out/preds.csv").as_posix() == "out/preds.skipped.csv"
    assert skipped_file("preds").as_posix() == "preds.skipped.csv"
