"""Regenerate one stored student and compare it with the store: ``optical verify --study S --student X``.

The student is retrained from the parameters its stored result was made with (the study's compiled parameters,
checked against the stored digest), into a scratch root, with the same code path as the main job
(:func:`optical.studies.students.dev_study`); then its training log, dev curve and test reads are compared with
the stored ones, each difference printed against its tolerance (:data:`TOLERANCES`).
"""

from __future__ import annotations

from pathlib import Path

from optical.io import changed_keys, read_json
from optical.layout import Layout

TOLERANCES = {"training log": 1e-4, "dev curve": 1e-4, "test read": 1e-4}
"""Largest absolute difference accepted: in each logged number of the training log (loss parts, learning rate; the
stored log holds means over 20 spans of steps, rounded to 6 decimals), in each dev score (MRR@10 per language and
macro, bitext MRR) and in each query's reciprocal rank of a test read. The same CPU with the same threads gives
0; another machine's floating point may differ in the last digits."""


def _largest_gap(stored: dict | list, again: dict | list) -> tuple[float, str]:
    """The largest absolute difference between two nested structures of numbers with the same keys, and where it
    is; a key or length that differs counts as an infinite gap."""
    if isinstance(stored, dict) and isinstance(again, dict):
        if set(stored) != set(again):
            return float("inf"), f"keys {sorted(set(stored) ^ set(again))[:4]}"
        gaps = [(g, f"{k}.{w}".rstrip(".")) for k in stored for g, w in [_largest_gap(stored[k], again[k])]]
        return max(gaps, default=(0.0, ""))
    if isinstance(stored, list) and isinstance(again, list):
        if len(stored) != len(again):
            return float("inf"), f"length {len(stored)} vs {len(again)}"
        gaps = [(g, f"[{i}].{w}".rstrip(".")) for i, (a, b) in enumerate(zip(stored, again))
                for g, w in [_largest_gap(a, b)]]
        return max(gaps, default=(0.0, ""))
    if isinstance(stored, (int, float)) and isinstance(again, (int, float)):
        return abs(float(stored) - float(again)), ""
    return (0.0, "") if stored == again else (float("inf"), f"{stored!r} vs {again!r}")


def compare(stored: dict, again: dict, stored_reads: dict[str, dict], reads: dict[str, dict]) -> list[dict]:
    """Rows ``{what, where, gap, tolerance, ok}``: the training log, the dev curve and the best step of a student's
    stored dev result against its retrained one, and each test read (per-query reciprocal ranks) by readout."""
    rows = []

    def row(what: str, gap: tuple[float, str], tolerance: float) -> None:
        rows.append({"what": what, "where": gap[1] if gap[0] else "", "gap": gap[0], "tolerance": tolerance,
                     "ok": gap[0] <= tolerance})

    row("training log", _largest_gap(stored["training"]["log"], again["training"]["log"]), TOLERANCES["training log"])
    row("dev curve", _largest_gap(stored["training"]["dev_history"], again["training"]["dev_history"]),
        TOLERANCES["dev curve"])
    row("steps", _largest_gap(stored["training"]["steps"], again["training"]["steps"]), 0.0)
    for readout, read in stored_reads.items():
        row(f"test read, {readout}", _largest_gap(read["per_query"], reads[readout]["per_query"]),
            TOLERANCES["test read"])
    return rows


def verify_student(params: dict, key: str, student: str, root: str | Path = ".", scratch: str | Path | None = None,
                   readouts: list[str] | None = None, seed: int | None = None) -> list[dict]:
    """Retrain ``student`` of study ``key`` (loaded ``params``) into ``scratch`` (default
    ``<root>/scratch/verify``) and compare it with its stored dev result and its stored test reads in ``readouts``
    (default: every readout the study declares, if it is final) under ``root``. Raises when nothing is stored for
    it, or when the stored result was made with other parameters than those the study compiles to today. ``seed``:
    the student of that seed (``kd`` with seed 2 is ``kd-seed2``; the study's base seed is ``kd`` itself)."""
    from optical.data.training import student_train_params
    from optical.studies.students import dev_study
    from optical.study_spec import resolve_pending, studies_of

    if key not in studies_of(params):
        raise ValueError(f"no study {key!r} in the parameters; studies: {studies_of(params)}")
    section = resolve_pending(params, key, root)
    if seed is not None and f"{student}-seed{seed}" in section["variants"]:
        student = f"{student}-seed{seed}"
    elif seed is not None and \
            section["variants"].get(student, {}).get("seed", section["train"].get("seed", 0)) != seed:
        raise ValueError(f"{key} has no student {student!r} of seed {seed}; students: {sorted(section['variants'])}")
    if student not in section["variants"]:
        raise ValueError(f"no student {student!r} in {key}; students: {sorted(section['variants'])}")
    path = Layout(root).dev_result(key, student)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: nothing stored to verify (run the study first)")
    stored = read_json(path)
    params = {**params, key: section}
    # checked before retraining (minutes to hours); the digest after it covers the rest (the dev languages)
    today = {"dataset": params["dataset"], "languages": section["languages"],
             "train": student_train_params(params, key, student)}
    if (before := {k: stored["params"].get(k) for k in today}) != today:
        raise ValueError(f"{path} was made with other parameters than {key}'s today "
                         f"({', '.join(changed_keys(before, today))}): nothing to compare")
    readouts = list(readouts or (section.get("readouts", []) if section.get("final") else []))
    scratch = Path(scratch or Path(root) / "scratch" / "verify")
    again = dev_study({**params, key: {**section, "readouts": readouts, "final": bool(readouts)}}, key, scratch,
                      fresh=True, only=[student])[student]
    if again["digest"] != stored["digest"]:
        raise ValueError(f"{path} was made with other parameters than {key}'s today "
                         f"({', '.join(changed_keys(stored['params'], again['params']))}): nothing to compare")
    reads = {r: read_json(Layout(scratch).test_read(key, student, r)) for r in readouts}
    stored_reads = {r: read_json(Layout(root).test_read(key, student, r)) for r in readouts}
    return compare(stored, again, stored_reads, reads)


def report(rows: list[dict]) -> str:
    """The comparison as text, one line per row, and a verdict."""
    lines = [f"{'':2}{'what':<20} {'largest gap':>12} {'tolerance':>10}  where"]
    for r in rows:
        lines.append(f"{'ok' if r['ok'] else '!!'} {r['what']:<20} {r['gap']:>12.3g} {r['tolerance']:>10.0e}  "
                     f"{r['where'] or '-'}")
    failed = [r["what"] for r in rows if not r["ok"]]
    lines.append("reproduced within tolerance" if not failed else f"NOT reproduced: {', '.join(failed)}")
    return "\n".join(lines)


def write_record(path: str | Path, rows: list[dict], command: str, wall_s: float) -> None:
    """Write a verification's rows with its command, verdict, commit, machine and wall time (atomically)."""
    import platform

    from optical.io import atomic_write_json
    from optical.provenance import git_commit

    atomic_write_json(path, {"command": command, "rows": rows, "reproduced": all(r["ok"] for r in rows),
                             "git_commit": git_commit(), "machine": platform.platform(),
                             "verify_wall_s": round(wall_s, 1)})
