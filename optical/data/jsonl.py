"""JSON Lines reading with errors that name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from optical.data.schema import DataError


def read_jsonl(path: str | Path) -> Iterator[dict]:
    """Yield one object per non-blank line of ``path``."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"missing file: {path}")
    with open(path, encoding="utf-8") as handle:
        for lineno, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                yield json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{lineno}: not valid JSON ({err.msg})") from err
