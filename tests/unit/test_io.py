"""Writing results so that no reader ever sees half a file, and in a stable form."""

import json

import pandas as pd
import pytest

from latentbalance.io import atomic_path, read_json, write_csv, write_json


def test_a_failed_write_leaves_nothing_behind_and_the_old_file_intact(tmp_path):
    target = tmp_path / "results" / "metrics.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half a fi")
        raise RuntimeError("the job died while writing")
    assert not target.parent.exists() or list(target.parent.iterdir()) == []
    write_json(target, {"acsa": 0.9})
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half a fi")
        raise RuntimeError("the job died while writing")
    assert read_json(target) == {"acsa": 0.9}
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]  # no temporary left


def test_a_finished_write_replaces_the_file_and_creates_its_folder(tmp_path):
    target = tmp_path / "a" / "b" / "notes.txt"
    with atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        tmp.write_text("first")
    with atomic_path(target) as tmp:
        tmp.write_text("second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["notes.txt"]


def test_json_is_written_the_same_whatever_the_key_order(tmp_path):
    write_json(tmp_path / "a.json", {"fold": 0, "acsa": 0.5, "nested": {"z": 1, "a": 2}})
    write_json(tmp_path / "b.json", {"nested": {"a": 2, "z": 1}, "acsa": 0.5, "fold": 0})
    text = (tmp_path / "a.json").read_text()
    assert text == (tmp_path / "b.json").read_text() and text.endswith("}\n")
    assert (
        read_json(tmp_path / "a.json")
        == json.loads(text)
        == {
            "acsa": 0.5,
            "fold": 0,
            "nested": {"a": 2, "z": 1},
        }
    )


def test_csv_has_the_frames_columns_and_no_index(tmp_path):
    frame = pd.DataFrame({"class": ["a", "b"], "count": [3, 1]}, index=[7, 9])
    write_csv(frame, tmp_path / "counts.csv")
    assert (tmp_path / "counts.csv").read_text() == "class,count\na,3\nb,1\n"
