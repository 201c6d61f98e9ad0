"""BEIR-style folders: ``corpus.jsonl``, ``queries.jsonl``, ``qrels/<split>.tsv``."""

from __future__ import annotations

import csv
from pathlib import Path

from optical.data.jsonl import read_jsonl
from optical.data.schema import DataError, RetrievalTask, normalize_text


def load_beir(folder: str | Path, split: str = "test", language: str = "und") -> RetrievalTask:
    """Read a BEIR folder. Corpus text is ``title + ". " + text`` when a title exists.

    Queries are restricted to those in the qrels of ``split``; relevance 0 rows are dropped.
    """
    folder = Path(folder)
    qrels_path = folder / "qrels" / f"{split}.tsv"
    for path in (folder / "corpus.jsonl", folder / "queries.jsonl", qrels_path):
        if not path.is_file():
            raise DataError(f"BEIR folder {folder}: missing file {path}")
    corpus = {}
    for r in read_jsonl(folder / "corpus.jsonl"):
        title, text = normalize_text(r.get("title") or ""), normalize_text(r.get("text") or "")
        corpus[str(r["_id"])] = f"{title}. {text}" if title else text
    all_queries = {str(r["_id"]): normalize_text(r.get("text") or "") for r in read_jsonl(folder / "queries.jsonl")}
    qrels: dict[str, dict[str, int]] = {}
    with open(qrels_path, encoding="utf-8") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    if rows and not rows[0][-1].strip().lstrip("-").isdigit():
        rows = rows[1:]  # header: query-id corpus-id score
    for row in rows:
        if len(row) < 3:
            raise DataError(f"{qrels_path}: expected 'query-id<TAB>corpus-id<TAB>score', got {row}")
        qid, did, score = row[0], row[1], int(row[-1])
        if score > 0:
            qrels.setdefault(qid, {})[did] = score
    absent = [qid for qid in qrels if qid not in all_queries]
    if absent:
        raise DataError(f"{qrels_path}: query ids {absent[:5]} are not in queries.jsonl")
    queries = {qid: all_queries[qid] for qid in qrels}
    return RetrievalTask(f"beir:{folder.name}-{split}", language, corpus, queries, qrels).validate()
