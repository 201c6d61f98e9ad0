"""BM25 through ``bm25s`` (defaults: English stopwords, no stemmer, k1 1.5, b 0.75, Lucene idf)."""

from __future__ import annotations

import bm25s

from optical.retrieval.dense import Run


def bm25_search(corpus: dict[str, str], queries: dict[str, str], k: int = 100, k1: float = 1.5, b: float = 0.75,
                method: str = "lucene", stopwords: str | None = "en") -> Run:
    """Top-``k`` BM25 run. A query with no indexed term gets an empty ranking (scored as a miss)."""
    doc_ids = sorted(corpus)
    retriever = bm25s.BM25(k1=k1, b=b, method=method)
    retriever.index(bm25s.tokenize([corpus[d] for d in doc_ids], stopwords=stopwords, show_progress=False),
                    show_progress=False)
    k = min(k, len(doc_ids))
    run: Run = {qid: {} for qid in queries}
    qids = list(queries)
    tokens = bm25s.tokenize([queries[q] for q in qids], stopwords=stopwords, show_progress=False, return_ids=False)
    terms = {qid: [t for t in toks if t in retriever.vocab_dict] for qid, toks in zip(qids, tokens)}
    searchable = [qid for qid in qids if terms[qid]]
    if searchable:
        idx, scores = retriever.retrieve([terms[q] for q in searchable], k=k, show_progress=False)
        for row, qid in enumerate(searchable):
            run[qid] = {doc_ids[int(j)]: float(s) for j, s in zip(idx[row], scores[row]) if s > 0}
    return run
