"""Dense retrieval: cached document matrices and exact top-k by chunked matrix product."""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from safetensors.numpy import load_file, save_file

from optical.env import cache_dir
from optical.data.schema import corpus_fingerprint

log = logging.getLogger(__name__)

Run = dict[str, dict[str, float]]
"""query id -> {doc id: score}: the run format of ir-measures."""


def cached_matrix(kind: str, model_key: str, corpus: dict[str, str], encode: Callable[[list[str]], np.ndarray],
                  cache: bool = True, root: Path | None = None) -> np.ndarray:
    """The ``(N, d)`` float32 matrix ``encode(texts)`` of the corpus, cached on disk.

    The cache file is keyed by ``kind``, ``model_key`` (e.g. a weight fingerprint) and the
    corpus fingerprint, so a change of either gives a new file (the old one is never reused).
    Rows follow ``sorted(corpus)``.
    """
    ids = sorted(corpus)
    path = (root or cache_dir()) / f"docs-{kind}-{model_key}-{corpus_fingerprint(corpus)}.safetensors"
    if cache and path.is_file():
        log.info("document matrix: cache hit %s", path.name)
        return load_file(path)["matrix"]
    log.info("document matrix: encoding %d documents (%s)", len(ids), kind)
    matrix = np.ascontiguousarray(encode([corpus[i] for i in ids]), dtype=np.float32)
    if matrix.shape[0] != len(ids):
        raise RuntimeError(f"encoder returned {matrix.shape[0]} rows for {len(ids)} documents")
    if cache:  # a temporary file of its own: two processes encoding the same corpus never mix their bytes
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        try:
            save_file({"matrix": matrix}, tmp)
            os.replace(tmp, path)
        finally:
            Path(tmp).unlink(missing_ok=True)
    return matrix


def document_encoder_key(model) -> str:
    """Cache key of what a ``SentenceTransformer`` computes on documents: its weights, max length and document
    prompt (no prompt suffix for prompt-free models, so their keys stay what they were)."""
    from optical.models import fingerprint, prompt

    key, prefix = f"{fingerprint(model)}-len{model.max_seq_length}", prompt(model, "document")
    if prefix:
        key += "-p" + hashlib.sha1(prefix.encode()).hexdigest()[:8]
    return key


def teacher_documents(model, corpus: dict[str, str], cache: bool = True) -> np.ndarray:
    """The corpus encoded by a ``SentenceTransformer``, cached under :func:`document_encoder_key`."""
    return cached_matrix("st", document_encoder_key(model), corpus,
                         lambda texts: encode_with(model, texts, kind="document"), cache)


BACKENDS = ("torch", "faiss", "faiss-hnsw")


def _to_run(scores: np.ndarray, idx: np.ndarray, query_ids: list[str], doc_ids: list[str]) -> Run:
    return {qid: {doc_ids[j]: float(s) for j, s in zip(idx[row].tolist(), scores[row].tolist()) if j >= 0}
            for row, qid in enumerate(query_ids)}


def exact_search(queries: np.ndarray, docs: np.ndarray, query_ids: list[str], doc_ids: list[str], k: int = 100,
                 chunk: int = 1024, backend: str = "torch") -> Run:
    """Top-``k`` by inner product. ``queries`` ``(Q, d)``, ``docs`` ``(N, d)`` (a memory map is fine).

    ``torch``: exact, chunked matrix products, on the GPU when one is present; ``faiss``: exact
    (``IndexFlatIP``); ``faiss-hnsw``: approximate (HNSW graph, 32 links, inner product), for large corpora.
    """
    if queries.shape[0] != len(query_ids) or docs.shape[0] != len(doc_ids):
        raise ValueError("matrix rows and ids differ in number")
    if backend not in BACKENDS:
        raise ValueError(f"unknown search backend {backend!r}; choose one of {BACKENDS}")
    k = min(k, len(doc_ids))
    if backend != "torch":
        import faiss

        if backend == "faiss":
            index = faiss.IndexFlatIP(docs.shape[1])
        else:
            index = faiss.IndexHNSWFlat(docs.shape[1], 32, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efSearch = max(128, 2 * k)  # recall over speed; the graph is the costly part
        for start in range(0, docs.shape[0], 65536):  # a memory-mapped matrix is read in slices
            index.add(np.ascontiguousarray(docs[start:start + 65536], dtype=np.float32))
        scores, idx = index.search(np.ascontiguousarray(queries, dtype=np.float32), k)
        return _to_run(scores, idx, query_ids, doc_ids)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    doc_t = torch.from_numpy(np.ascontiguousarray(docs, dtype=np.float32)).to(device)
    run: Run = {}
    for start in range(0, len(query_ids), chunk):
        q = torch.from_numpy(np.ascontiguousarray(queries[start:start + chunk], dtype=np.float32)).to(device)
        scores, idx = torch.topk(q @ doc_t.T, k, dim=1)
        run.update(_to_run(scores.cpu().numpy(), idx.cpu().numpy(), query_ids[start:start + chunk], doc_ids))
    return run


def encode_with(model, texts: list[str], batch_size: int | None = None, kind: str = "query") -> np.ndarray:
    """Normalised sentence embeddings ``(len(texts), d)`` of ``texts`` (``kind`` ``"query"`` or ``"document"``,
    which picks the model's prompt) from a ``SentenceTransformer`` (progress bar on long lists).

    ``batch_size`` defaults to 16 on the CPU, where small batches keep the activations in cache (the AfriQA
    passages encode about 15% faster than in batches of 64 on this project's 2-core machines), and 64 on a GPU.
    """
    from optical.models import prompt

    if batch_size is None:
        batch_size = 16 if model.device.type == "cpu" else 64
    return model.encode([prompt(model, kind) + t for t in texts], batch_size=batch_size, convert_to_numpy=True,
                        normalize_embeddings=True,
                        show_progress_bar=len(texts) > 256 and not os.environ.get("TQDM_DISABLE"))
