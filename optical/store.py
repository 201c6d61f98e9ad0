"""The result store: each file under ``results/`` is one result — a (study, student, seed, split, readout) read, a
student's dev run, a baseline, a fit — made with ``params``, the mapping of everything that determines it, and
keyed by its digest (:func:`params_digest`, stored in the file as ``"digest"``).

:func:`stored` gives a result back only for the same digest, so the book reuses what exists and nothing else;
:func:`store` writes atomically and never loses a result: one made with other parameters is moved to
``superseded/<stem>.<digest>.json`` beside it, where :func:`stored` finds it again when those parameters return.

With :data:`READ_ONLY` set in the environment (the book build: it reads what ``optical run`` stored), a result that
is missing, or stored with other parameters, raises :class:`MissingResult` naming it and the command that makes it,
and nothing is written.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from optical.io import atomic_write_json, changed_keys, read_json

log = logging.getLogger(__name__)

READ_ONLY = "OPTICAL_READ_ONLY"
"""Environment variable: ``1`` makes the store read-only (:func:`read_only`)."""


class MissingResult(LookupError):
    """A result the store does not hold while it is read-only: run ``optical run`` to make it."""


def read_only() -> bool:
    """Whether the store only reads (``OPTICAL_READ_ONLY=1``, set by the book build for its notebooks)."""
    return os.environ.get(READ_ONLY) == "1"


NOT_STUDIES = {"afriqa", "afriqa-mini", "afriqa-own", "webfaq", "closed_form", "bitext_size", "verify"}
"""Folders of ``results/`` that hold a chapter's analyses, not one study's results."""


def _missing(path: Path, why: str) -> MissingResult:
    parts = path.parts
    folder = parts[len(parts) - 1 - parts[::-1].index("results") + 1] if "results" in parts[:-1] else None
    study = f"`optical run --params <the same file> --study {folder}` makes it; " \
        if folder and folder not in NOT_STUDIES else ""
    return MissingResult(f"{path}: {why}; the book only reads the store: {study}`optical run --params <the same "
                         f"file>` makes every result the book reads")


def params_digest(params: dict) -> str:
    """16 hex digits of the SHA-256 of ``params`` as canonical JSON (sorted keys): the result's key."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def superseded_path(path: Path, digest: str) -> Path:
    """Where the result of ``path`` made with the parameters of ``digest`` is kept once replaced."""
    return path.parent / "superseded" / f"{path.stem}.{digest}.json"


def stored(path: str | Path, params: dict, fresh: bool = False) -> dict | None:
    """The result at ``path`` made with ``params`` (same digest), or the one kept under ``superseded/`` for them
    (moved back into place, the current one kept in its stead); ``None`` when there is none or ``fresh`` is on,
    with a warning naming the file and the parameters that changed when a stored result is about to be replaced."""
    path, digest = Path(path), params_digest(params)
    if read_only():
        if (kept := peek(path, params)) is None and not superseded_path(path, digest).is_file():
            changed = changed_keys((read_json(path).get("params") or {}), params) if path.is_file() else []
            raise _missing(path, f"stored with other parameters ({', '.join(changed)})" if changed
                           else "no result stored")
        if kept is not None:
            return kept
        return read_json(superseded_path(path, digest))  # not moved back: the book changes nothing
    if fresh or not path.is_file():
        if fresh and path.is_file():
            log.warning("%s will be recomputed and replaced (fresh=True)", path)
        return None
    current = read_json(path)
    if _digest_of(current) == digest:
        log.info("reusing %s (digest %s)", path, digest)
        return current
    earlier = superseded_path(path, digest)
    if earlier.is_file() and _digest_of(kept := read_json(earlier)) == digest:
        _set_aside(path, current)
        os.replace(earlier, path)
        log.info("reusing %s (digest %s, restored from %s)", path, digest, earlier.parent)
        return kept
    log.warning("%s will be recomputed and replaced (%s)", path,
                ", ".join(changed_keys(current.get("params") or {}, params)))
    return None


def peek(path: str | Path, params: dict) -> dict | None:
    """The result at ``path`` if it was made with ``params`` (same digest), else ``None``: a read-only lookup that
    never moves, replaces or warns about a file (for reading another study's results)."""
    path = Path(path)
    if path.is_file() and _digest_of(current := read_json(path)) == params_digest(params):
        return current
    return None


def store(path: str | Path, params: dict, result: dict) -> dict:
    """Write ``result`` with its ``params`` and their digest to ``path`` (atomically); a result already there that
    was made with other parameters is kept under ``superseded/``. Returns the result as written."""
    path = Path(path)
    if read_only():
        raise _missing(path, "not stored (something tried to compute it)")
    result = {**result, "params": params, "digest": params_digest(params)}
    if path.is_file() and _digest_of(current := read_json(path)) != result["digest"]:
        _set_aside(path, current)
    atomic_write_json(path, result)
    return result


def _digest_of(result: dict) -> str | None:
    """The digest a stored result is keyed by (computed from its parameters where the file predates the store)."""
    return result.get("digest") or (params_digest(result["params"]) if "params" in result else None)


def _set_aside(path: Path, current: dict) -> None:
    if (digest := _digest_of(current)) is not None:
        target = superseded_path(path, digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)
        log.warning("%s: the result made with other parameters is kept as %s", path, target)
