"""The command line's declaration and its choices. (The real command run: tests/workflow/
test_command_line.py.)"""

import pytest

from latentbalance.cli import UsageError, build_parser, readable_images, skipped_file
from latentbalance.settings.schema import allowed, setting

from helpers import REPO, write_pictures


def test_the_console_script_is_declared():
    text = (REPO / "pyproject.toml").read_text()
    assert 'latentbalance = "latentbalance.cli:main"' in text


def test_the_command_lines_choices_are_the_configs():
    commands = next(a for a in build_parser()._actions if a.dest == "command").choices
    options = {name: {a.dest: a for a in commands[name]._actions} for name in commands}
    for name in ("predict", "evaluate"):
        assert tuple(options[name]["device"].choices) == allowed("compute.device")
        assert "precision" not in options[name]  # they score in fp32, as the workflow does
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


def test_unreadable_files_to_predict_are_listed_together(tmp_path):
    write_pictures(tmp_path, 3, size=(9, 7))
    for name in ("bad-a.png", "bad-b.jpg"):
        (tmp_path / name).write_bytes(b"not an image")
    files = sorted(tmp_path.iterdir())
    with pytest.raises(UsageError) as error:
        readable_images(files, (8, 8), 1, skip_bad_images=False)
    message = str(error.value)
    assert message.startswith("2 of 5 files cannot be read as images")
    assert "bad-a.png" in message and "bad-b.jpg" in message and "--skip-bad-images" in message
    images, read, skipped = readable_images(files, (8, 8), 1, skip_bad_images=True)
    assert images.shape == (3, 1, 8, 8)  # resized to the model's input
    assert [f.name for f in read] == ["0.png", "1.png", "2.png"]
    assert [e.path.name for e in skipped] == ["bad-a.png", "bad-b.jpg"]
