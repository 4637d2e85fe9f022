"""The command line's declaration and its choices. (The real command run: tests/workflow/
test_command_line.py.)"""

from latentbalance.choices import allowed
from latentbalance.cli import build_parser

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
