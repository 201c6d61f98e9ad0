"""Atomic writes of files and folders (a crash leaves the previous version intact) and reading results back."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    """Serialise ``obj`` as indented JSON and write it atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


@contextmanager
def atomic_folder(folder: str | Path, complete: str | None = None) -> Iterator[Path]:
    """A fresh private folder to fill, put in place of ``folder`` when the block ends without error.

    A crash never leaves a folder at ``folder`` that looks complete (the private one is removed), and writers of
    the same folder in several processes (two runs filling one cache) never touch each other's files: an existing
    ``folder`` is replaced, and if another writer puts its own there in between, that one is kept. For a cache
    whose content is fixed by its name, ``complete`` names the file that marks a finished folder: an existing
    folder holding it is kept and the private one dropped, so a process already reading it is never disturbed.
    """
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        yield tmp
        if complete is not None and (folder / complete).exists():
            return
        if folder.exists():
            old = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".old"))
            try:
                folder.rename(old / "replaced")
            except FileNotFoundError:  # another writer moved it away first
                pass
            shutil.rmtree(old)
        try:
            tmp.rename(folder)
        except OSError:
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def read_json(path: str | Path) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def read_json_folder(folder: str | Path) -> dict[str, Any]:
    """Every ``*.json`` directly in ``folder`` by file stem, in name order; empty when the folder is absent."""
    folder = Path(folder)
    return {p.stem: read_json(p) for p in sorted(folder.glob("*.json"))} if folder.is_dir() else {}


def changed_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted names of the entries that differ between two parameter mappings (nested mappings compared by key)."""
    out = []
    for key in sorted(set(old) | set(new), key=str):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            out += changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            out.append(f"{prefix}{key}: {a!r} -> {b!r}")
    return out
