"""Write ``tests/data/hau_reference_subcorpus.json``: the passages the reference-row test needs (Hausa).

MRR@10 only sees, for each query, its gold passage and the passages ranked above it (ten at most). On the corpus of
the gold passages plus every passage that the floor (MiniLM on Hausa queries) or the ceiling (MiniLM on the English
translations) ranks above a gold passage in the full 5,363-passage corpus, both systems score exactly their
full-corpus MRR@10, at a fifth of the encoding cost. Run once on the full corpus (minutes on 2 cores):

    OPTICAL_DATA_DIR=../shared/data python tools/reference_subcorpus.py
"""

from __future__ import annotations

import json

from optical.data.registry import load_tasks
from optical.data.paths import REPO_ROOT
from optical.eval.system import Retriever

SYSTEMS = ("teacher", "ceiling")


def competitors(run: dict[str, dict[str, float]], qrels: dict[str, dict[str, int]]) -> set[str]:
    """The passages some query's run ranks above its gold passage, within its top 10."""
    above = set()
    for qid, scores in run.items():
        for doc in sorted(scores, key=scores.get, reverse=True)[:10]:
            if doc in qrels[qid]:
                break
            above.add(doc)
    return above


def main() -> None:
    task = load_tasks("afriqa", ["hau"], "test")["hau"]
    keep = {doc for rel in task.qrels.values() for doc in rel}
    for system in SYSTEMS:
        keep |= competitors(Retriever(system).run(task), task.qrels)
    out = REPO_ROOT / "tests" / "data" / "hau_reference_subcorpus.json"
    out.write_text(json.dumps({"about": "written by tools/reference_subcorpus.py (see its docstring)", "systems": list(SYSTEMS),
                               "full_corpus": len(task.corpus), "passages": sorted(keep)}, indent=0) + "\n")
    print(f"{len(keep)} of {len(task.corpus)} passages -> {out}")


if __name__ == "__main__":
    main()
