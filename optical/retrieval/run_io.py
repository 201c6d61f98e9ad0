"""TREC run files: ``qid Q0 docid rank score tag``."""

from __future__ import annotations

from pathlib import Path

from optical.io import atomic_write_text
from optical.retrieval.dense import Run


def write_trec(run: Run, path: str | Path, tag: str = "optical") -> Path:
    lines = []
    for qid in run:
        ranked = sorted(run[qid].items(), key=lambda kv: (-kv[1], kv[0]))
        lines += [f"{qid} Q0 {did} {rank} {score:.6f} {tag}" for rank, (did, score) in enumerate(ranked, 1)]
    return atomic_write_text(path, "\n".join(lines) + "\n")


def read_trec(path: str | Path) -> Run:
    run: Run = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.strip():
            qid, _, did, _, score, *_ = line.split()
            run.setdefault(qid, {})[did] = float(score)
    return run
