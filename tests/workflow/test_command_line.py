"""The latentbalance command's answers to wrong arguments (no trained model needed)."""

from conftest import REPO, latentbalance


def test_a_missing_model_is_named_with_what_to_pass(tmp_path):
    run = latentbalance("predict", "--model", "results/x/fold0/classifier/none", ".", cwd=tmp_path)
    assert run.returncode == 2
    assert "no saved classifier at results/x/fold0/classifier/none;" in run.stderr
    assert "pass a directory like" in run.stderr


def test_a_file_that_is_no_model_is_refused(tmp_path):
    (tmp_path / "model.pt").write_bytes(b"not a checkpoint")
    (tmp_path / "images").mkdir()
    run = latentbalance("predict", "--model", str(tmp_path), str(tmp_path / "images"), cwd=tmp_path)
    assert run.returncode == 2
    assert "holds no image files" in run.stderr
    (tmp_path / "images" / "a.png").write_bytes(b"")
    run = latentbalance("predict", "--model", str(tmp_path), str(tmp_path / "images"), cwd=tmp_path)
    assert run.returncode == 2
    assert "is not a classifier saved by latentbalance" in run.stderr


def test_the_console_script_is_declared():
    text = (REPO / "pyproject.toml").read_text()
    assert 'latentbalance = "latentbalance.cli:main"' in text
