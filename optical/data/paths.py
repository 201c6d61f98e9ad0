"""Where the offline data lives: ``$OPTICAL_DATA_DIR`` or ``../shared/data`` beside the repository."""

from __future__ import annotations

import os
from pathlib import Path

from optical.data.schema import DataError

REPO_ROOT = Path(__file__).resolve().parents[2]

GET_DATA = (
    "Get the data from the public repositories: AfriQA (github.com/masakhane-io/afriqa, "
    "data/queries and data/gold_passages) and MAFAND-MT (github.com/masakhane-io/lafand-mt, "
    "data/json_files), laid out as described in shared/data/README.md, and point OPTICAL_DATA_DIR at it."
)


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """Resolve the data directory: explicit ``path``, else ``$OPTICAL_DATA_DIR``, else ``<repo>/../shared/data``."""
    if path is not None:
        candidate, origin = Path(path), "the given path"
    elif os.environ.get("OPTICAL_DATA_DIR"):
        candidate, origin = Path(os.environ["OPTICAL_DATA_DIR"]), "$OPTICAL_DATA_DIR"
    else:
        candidate, origin = REPO_ROOT.parent / "shared" / "data", "the default beside the repository"
    if not candidate.is_dir():
        raise DataError(f"data directory {candidate} ({origin}) does not exist. {GET_DATA}")
    return candidate


