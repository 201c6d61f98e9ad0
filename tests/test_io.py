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


def test_a_finished_cache_folder_is_kept_and_a_later_writer_of_it_dropped(tmp_path):
    target = tmp_path / "cache"
    with atomic_folder(target, complete="done") as a:
        (a / "done").write_text("a")
        with atomic_folder(target, complete="done") as b:
            (b / "done").write_text("b")
        reading = (target / "done").open()  # a reader of b's folder, while a finishes
    assert (target / "done").read_text() == "b" and reading.read() == "b"
    reading.close()
    assert [p.name for p in tmp_path.iterdir()] == ["cache"]


def test_an_unfinished_folder_is_replaced_even_for_a_cache(tmp_path):
    target = tmp_path / "cache"
    target.mkdir()
    (target / "half").write_text("left by a crash of older code")
    with atomic_folder(target, complete="done") as tmp:
        (tmp / "done").write_text("new")
    assert [p.name for p in target.iterdir()] == ["done"]
