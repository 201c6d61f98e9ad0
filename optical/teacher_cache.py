"""Teacher token outputs of the English bitext, computed once and sharded on disk (memory-mapped numpy).

A run of 100k pairs needs about 10 GB of teacher token matrices (64 tokens x 384 floats each): held in host RAM
they bound the data size, so each shard of ``shard_size`` sentences is written once as flat arrays
(``tokens`` ``(N_tokens, d)``, ``content``/``ids`` ``(N_tokens,)``, ``pooled`` ``(n, d)``, ``offsets`` ``(n + 1,)``)
and opened memory-mapped; a batch reads only its rows. A shard's folder is named by a digest of the teacher's
weights, the token cap and the shard's texts, so it is reused by every run (and every process of a DDP run)
with the same English side, and a changed teacher or text never reads stale vectors.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch

from optical.env import cache_dir
from optical.io import atomic_folder
from optical.models import Teacher, TokenOutput, fingerprint

log = logging.getLogger(__name__)

ARRAYS = ("tokens", "content", "ids", "pooled", "offsets")


def pad_token_rows(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]) -> TokenOutput:
    """A padded CPU :class:`TokenOutput` of per-sentence ``(tokens (n_i, d), content (n_i,), ids (n_i,),
    pooled (d,))`` rows."""
    n, d = max(len(r[0]) for r in rows), rows[0][0].shape[1]
    tokens = np.zeros((len(rows), n, d), np.float32)
    content = np.zeros((len(rows), n), bool)
    attention = np.zeros((len(rows), n), bool)
    ids = np.zeros((len(rows), n), np.int64)
    for i, (tok, cm, ii, _) in enumerate(rows):
        k = len(tok)
        tokens[i, :k], content[i, :k], ids[i, :k], attention[i, :k] = tok, cm, ii, True
    pooled = np.stack([np.asarray(r[3], np.float32) for r in rows])
    return TokenOutput(*(torch.from_numpy(a) for a in (tokens, content, attention, ids, pooled)))


class TeacherTokenCache:
    """Teacher token outputs of English sentences: :meth:`prepare` writes the missing shards, :meth:`batch` reads.

    ``root`` defaults to ``<cache dir>/teacher-tokens``. Only :meth:`prepare` runs the teacher; :meth:`batch` of a
    text that was not prepared raises ``KeyError`` naming it. The object pickles without the teacher or the open
    arrays, so DataLoader workers can read batches.
    """

    def __init__(self, teacher: Teacher, max_length: int, root: str | Path | None = None, shard_size: int = 4096,
                 encode_batch: int = 64):
        self.teacher, self.max_length, self.shard_size, self.encode_batch = teacher, max_length, shard_size, encode_batch
        self.root = Path(root) if root is not None else cache_dir() / "teacher-tokens"
        self.key = f"{fingerprint(teacher.model)}-len{max_length}"
        self._where: dict[str, tuple[Path, int]] = {}  # text -> (shard folder, row)
        self._indexed: set[Path] = set()  # shard folders whose texts are in _where
        self._open: dict[Path, dict[str, np.ndarray]] = {}

    def __getstate__(self) -> dict:
        return {**self.__dict__, "teacher": None, "_open": {}}

    def prepare(self, texts: list[str]) -> None:
        """Make every text of ``texts`` readable: read the texts of every complete shard on disk, then compute
        and write shards for the texts none of them holds (in sorted order, so another order of the same texts
        finds the same shards). A text is encoded once whatever sets of texts earlier runs prepared (another
        seed's sample of the bitext, a resumed run in a new process)."""
        if any(t not in self._where for t in texts):
            self._index_shards()
        todo = sorted({t for t in texts if t not in self._where})
        for start in range(0, len(todo), self.shard_size):
            part = todo[start:start + self.shard_size]
            digest = hashlib.sha1("\n".join([self.key, *part]).encode()).hexdigest()[:20]
            folder = self.root / self.key / digest
            if not (folder / "texts.json").is_file():
                self._write_shard(folder, part)
            self._register(folder, part)

    def _index_shards(self) -> None:
        """Register the texts of the complete shards on disk not read yet (``texts.json`` is written last; private
        folders of writers still at work start with a dot)."""
        for texts_file in sorted((self.root / self.key).glob("[!.]*/texts.json")):
            if texts_file.parent not in self._indexed:
                self._register(texts_file.parent, json.loads(texts_file.read_text(encoding="utf-8")))

    def _register(self, folder: Path, texts: list[str]) -> None:
        for row, text in enumerate(texts):
            self._where.setdefault(text, (folder, row))
        self._indexed.add(folder)

    def _write_shard(self, folder: Path, texts: list[str]) -> None:
        log.info("teacher tokens of %d English sentences -> %s", len(texts), folder)
        tokens, content, ids, pooled, offsets = [], [], [], [], [0]
        for start in range(0, len(texts), self.encode_batch):
            out = self.teacher.tokens(texts[start:start + self.encode_batch], self.max_length)
            for i in range(out.tokens.shape[0]):
                n = int(out.attention_mask[i].sum())
                tokens.append(out.tokens[i, :n].float().cpu().numpy())
                content.append(out.content_mask[i, :n].cpu().numpy())
                ids.append(out.input_ids[i, :n].cpu().numpy().astype(np.int32))
                pooled.append(out.pooled[i].float().cpu().numpy())
                offsets.append(offsets[-1] + n)
        arrays = dict(tokens=np.concatenate(tokens), content=np.concatenate(content), ids=np.concatenate(ids),
                      pooled=np.stack(pooled), offsets=np.asarray(offsets, dtype=np.int64))
        with atomic_folder(folder, complete="texts.json") as tmp:  # never a half shard, even with two writers
            for name, array in arrays.items():
                np.save(tmp / f"{name}.npy", array)
            (tmp / "texts.json").write_text(json.dumps(texts, ensure_ascii=False), encoding="utf-8")

    def _arrays(self, folder: Path) -> dict[str, np.ndarray]:
        if folder not in self._open:
            self._open[folder] = {name: np.load(folder / f"{name}.npy", mmap_mode="r") for name in ARRAYS}
        return self._open[folder]

    def rows(self, texts: list[str]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
        """``(tokens (n_i, d), content (n_i,), ids (n_i,), pooled (d,))`` of each text, read from the shards."""
        out = []
        for text in texts:
            if text not in self._where:
                raise KeyError(f"teacher tokens of {text[:60]!r} were not prepared (call prepare first)")
            folder, row = self._where[text]
            arrays = self._arrays(folder)
            lo, hi = arrays["offsets"][row], arrays["offsets"][row + 1]
            out.append((arrays["tokens"][lo:hi], arrays["content"][lo:hi], arrays["ids"][lo:hi], arrays["pooled"][row]))
        return out

    def batch(self, texts: list[str], device: str | torch.device | None = None) -> TokenOutput:
        """Padded :class:`TokenOutput` of ``texts`` (prepared first if needed), on ``device`` (default: the
        teacher's)."""
        missing = [t for t in texts if t not in self._where]
        if missing and self.teacher is not None:
            self.prepare(missing)
        device = device or (next(self.teacher.model.parameters()).device if self.teacher is not None else "cpu")
        return pad_token_rows(self.rows(texts)).to(device)
