r"""Late-interaction (MaxSim, ColBERT-style) retrieval: query tokens against passage tokens.

.. math:: s(q, d) = \sum_{i \in q} \max_{j \in d} \cos(q_i, d_j)

over content tokens (no [CLS]/[SEP], no prompt, no padding). This is the readout in which a token
alignment matters directly: a student trained by OT is scored by how well each of its query tokens lands
near some teacher passage token, not only by its mean. Passage token matrices are encoded once by the
teacher and cached on disk as two ``.npy`` files (float16 unit vectors ``(T, d)``, offsets ``(N + 1,)``),
read back memory-mapped.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from optical.data.schema import corpus_fingerprint
from optical.env import cache_dir
from optical.io import atomic_folder
from optical.retrieval.dense import Run, document_encoder_key

log = logging.getLogger(__name__)


def _projection(model):
    """The linear map of a student's Dense layer (sentence-transformers), applied to tokens too; None if none."""
    from sentence_transformers import models as st_models

    dense = [m for m in model if isinstance(m, st_models.Dense)]
    return dense[0].linear if dense else None


@torch.no_grad()
def token_vectors(model, texts: list[str], kind: str = "query", batch_size: int = 32,
                  max_length: int | None = None) -> list[np.ndarray]:
    """Unit-normalised content-token vectors of each text, ``(n_i, d)`` float32, by a ``SentenceTransformer``,
    in the order of ``texts`` (encoded in batches of similar length, so little of a batch is padding)."""
    from optical.models import forward_tokens

    project = _projection(model)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    out: list[np.ndarray | None] = [None] * len(texts)
    model.eval()
    for start in range(0, len(texts), batch_size):
        rows = order[start:start + batch_size]
        batch = forward_tokens(model, [texts[i] for i in rows], max_length, kind)
        tokens = batch.tokens if project is None else project(batch.tokens)
        tokens = torch.nn.functional.normalize(tokens.float(), dim=-1).cpu()
        for k, i in enumerate(rows):
            out[i] = tokens[k][batch.content_mask[k].cpu()].numpy()
    return out


def cached_passage_tokens(model, corpus: dict[str, str], cache: bool = True,
                          root: Path | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(vectors (T, d) float16, offsets (N + 1,) int64)`` of the corpus in ``sorted(corpus)`` order:
    passage ``k`` owns rows ``offsets[k]:offsets[k+1]``. Cached under the model's weights, max length and
    document prompt (:func:`optical.retrieval.dense.document_encoder_key`) and the corpus fingerprint; read back
    memory-mapped."""
    folder = (root or cache_dir()) / f"doctokens-{document_encoder_key(model)}-{corpus_fingerprint(corpus)}"
    if cache and (folder / "offsets.npy").is_file():
        log.info("passage tokens: cache hit %s", folder.name)
        return np.load(folder / "vectors.npy", mmap_mode="r"), np.load(folder / "offsets.npy")
    ids = sorted(corpus)
    log.info("passage tokens: encoding %d passages", len(ids))
    per_doc = token_vectors(model, [corpus[i] for i in ids], kind="document")
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in per_doc])]).astype(np.int64)
    vectors = np.concatenate(per_doc).astype(np.float16)
    if not cache:
        return vectors, offsets
    with atomic_folder(folder, complete="offsets.npy") as tmp:
        np.save(tmp / "vectors.npy", vectors)
        np.save(tmp / "offsets.npy", offsets)  # written last: its presence marks a complete cache
    return np.load(folder / "vectors.npy", mmap_mode="r"), offsets


def maxsim_scores(queries: list[np.ndarray], vectors: np.ndarray, offsets: np.ndarray,
                  block_tokens: int = 131072) -> np.ndarray:
    """``(Q, N)`` MaxSim scores of ``queries`` (each ``(n_i, d)``) against the passages of ``(vectors, offsets)``.

    Passage tokens are processed in blocks of whole passages (about ``block_tokens`` rows), so memory stays
    bounded for any corpus size; within a block, the per-passage max is a ``scatter_reduce``.
    """
    if any(len(q) == 0 for q in queries):
        raise ValueError("a query has no content token")
    n_docs = len(offsets) - 1
    q = torch.from_numpy(np.concatenate(queries).astype(np.float32))  # (R, d)
    owner = torch.repeat_interleave(torch.arange(len(queries)), torch.tensor([len(x) for x in queries]))
    scores = torch.zeros(len(queries), n_docs)
    start_doc = 0
    while start_doc < n_docs:
        end_doc = int(np.searchsorted(offsets, offsets[start_doc] + block_tokens, side="right")) - 1
        end_doc = min(max(end_doc, start_doc + 1), n_docs)
        lo, hi = int(offsets[start_doc]), int(offsets[end_doc])
        block = torch.from_numpy(np.asarray(vectors[lo:hi], dtype=np.float32))
        doc_of_token = torch.repeat_interleave(torch.arange(end_doc - start_doc),
                                               torch.from_numpy(np.diff(offsets[start_doc:end_doc + 1])))
        sims = q @ block.T  # (R, tokens of the block)
        best = torch.full((len(q), end_doc - start_doc), -torch.inf).scatter_reduce(
            1, doc_of_token.expand(len(q), -1), sims, reduce="amax")
        scores[:, start_doc:end_doc] = torch.zeros(len(queries), end_doc - start_doc).index_add_(0, owner, best)
        start_doc = end_doc
    return scores.numpy()


def maxsim_search(queries: list[np.ndarray], vectors: np.ndarray, offsets: np.ndarray, query_ids: list[str],
                  doc_ids: list[str], k: int = 100, query_batch: int = 64) -> Run:
    """Exact top-``k`` passages per query by MaxSim (see :func:`maxsim_scores`)."""
    if len(queries) != len(query_ids) or len(offsets) - 1 != len(doc_ids):
        raise ValueError("queries/passages and ids differ in number")
    k = min(k, len(doc_ids))
    run: Run = {}
    for start in range(0, len(queries), query_batch):
        scores = torch.from_numpy(maxsim_scores(queries[start:start + query_batch], vectors, offsets))
        top, idx = torch.topk(scores, k, dim=1)
        for row, qid in enumerate(query_ids[start:start + query_batch]):
            run[qid] = {doc_ids[j]: float(s) for j, s in zip(idx[row].tolist(), top[row].tolist())}
    return run
