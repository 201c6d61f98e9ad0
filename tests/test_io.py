"""Atomic folders: a crash leaves the previous folder, and two writers of one folder never share files."""

import pytest

from optical.io import atomic_folder


def test_a_writer_that_fails_leaves_the_previous_folder_and_no_private_one(tmp_path):
    target = tmp_path / "shard"
    with atomic_folder(target) as tmp:
        (tmp / "x").write_text("first")
    with pytest.raises(RuntimeError, match="crash"), atomic_folder(target) as tmp:
        (tmp / "x").write_text("second, half written")
        raise RuntimeError("crash")
    assert (target / "x").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["shard"]


def test_a_second_writer_finishing_first_never_touches_the_first_writers_files(tmp_path):
    target = tmp_path / "shard"
    with atomic_folder(target) as a:
        (a / "x").write_text("a")
        with atomic_folder(target) as b:
            (b / "x").write_text("b")
        assert (target / "x").read_text() == "b" and (a / "x").read_text() == "a"
        (a / "done").write_text("a")
    assert sorted(p.name for p in target.iterdir()) == ["done", "x"] and (target / "x").read_text() == "a"
    assert [p.name for p in tmp_path.iterdir()] == ["shard"]
