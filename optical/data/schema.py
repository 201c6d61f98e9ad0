"""One schema for every retrieval task and every bitext.

A :class:`RetrievalTask` is a corpus (doc id -> text), queries (query id -> text),
qrels (query id -> {doc id: relevance}), and optionally the human English
translation of each query (for the translate-test ceiling). A :class:`Bitext` is
a list of aligned (student-language, teacher-language) sentence pairs.
"""

from __future__ import annotations

import functools
import hashlib
import sys
import unicodedata
from dataclasses import dataclass, field


class DataError(ValueError):
    """Raised when input data is missing, empty or inconsistent."""


def normalize_text(text: str) -> str:
    """Unicode NFC normalisation with surrounding whitespace removed."""
    return unicodedata.normalize("NFC", text).strip()


def leakage_key(text: str) -> str:
    """The one matching key of every leakage and duplicate check, in every loader: NFKC, case-folded, punctuation
    and invisible format characters (zero-width spaces, joiners, byte-order marks) removed, whitespace collapsed.
    ``"Who was the first female president in Africa ?"`` and ``"who was the first female President in Africa?"``
    share a key."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(folded.translate(_unmatched()).split())


BITEXT_VERSIONS = {
    2: "clean dev (ff86954): texts matched NFC-normalised and case-folded; exact duplicate pairs removed",
    3: "one matching key (7271e1e): leakage_key for leakage and duplicates (NFKC, case, punctuation and format "
       "characters aside)",
}
"""The bitext rules a result may have been trained on, by version: every result records its ``bitext_version``
(in its parameters and their digest), so a replay rebuilds the bitext it was trained on. Version 1 (before
ff86954: AfriQA dev questions in the bitext, only test questions held out) is recorded but not rebuilt."""
BITEXT_VERSION = 3
"""The bitext rules of new results."""


def with_bitext_version(train: dict) -> dict:
    """A study's ``train`` mapping with its ``bitext_version`` written out (default: the current
    :data:`BITEXT_VERSION`), so the version is in every result's parameters and digest."""
    return {"bitext_version": BITEXT_VERSION, **train}


def matching_key(version: int):
    """The text-matching key of bitext ``version`` (:data:`BITEXT_VERSIONS`); raises naming the versions it
    rebuilds."""
    if version == 3:
        return leakage_key
    if version == 2:
        return lambda text: " ".join(normalize_text(text).casefold().split())
    raise DataError(f"bitext version {version!r} is not rebuilt by this code (versions: "
                    f"{', '.join(f'{v}: {d}' for v, d in BITEXT_VERSIONS.items())}); version 1 predates commit "
                    f"ff86954: check out ff86954~1 to rebuild it")


@functools.cache
def _unmatched() -> dict[int, None]:
    """``str.translate`` table deleting every punctuation (P*) and format (Cf) code point (built once)."""
    return {c: None for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)).startswith(("P", "Cf"))}


def passage_id(title: str, context: str) -> str:
    """Stable id of a passage: the first 16 hex digits of sha1(title + '\\x1f' + context)."""
    return hashlib.sha1(f"{title}\x1f{context}".encode("utf-8")).hexdigest()[:16]


def corpus_fingerprint(corpus: dict[str, str]) -> str:
    """Hash of the corpus ids and texts, order-independent; keys the document-matrix cache."""
    digest = hashlib.sha1()
    for doc_id in sorted(corpus):
        digest.update(doc_id.encode("utf-8") + b"\x1e" + corpus[doc_id].encode("utf-8") + b"\x1d")
    return digest.hexdigest()[:16]


@dataclass
class RetrievalTask:
    """Queries in one language against an (English) corpus.

    ``qrels`` may list a query whose relevant document is not in the corpus only
    when ``missing_gold`` names it: such queries are scored as misses (RR = 0).
    """

    name: str
    language: str
    corpus: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    translations: dict[str, str] = field(default_factory=dict)
    missing_gold: set[str] = field(default_factory=set)

    def validate(self) -> "RetrievalTask":
        """Check the task is consistent; raise :class:`DataError` naming the problem."""
        if not self.corpus:
            raise DataError(f"{self.name}/{self.language}: the corpus is empty")
        if not self.queries:
            raise DataError(f"{self.name}/{self.language}: there are no queries")
        empty = [qid for qid, text in self.queries.items() if not text or not text.strip()]
        if empty:
            raise DataError(f"{self.name}/{self.language}: empty query text for query ids {empty[:5]}")
        empty_docs = [did for did, text in self.corpus.items() if not text or not text.strip()]
        if empty_docs:
            raise DataError(f"{self.name}/{self.language}: empty document text for doc ids {empty_docs[:5]}")
        for qid, rels in self.qrels.items():
            if qid not in self.queries:
                raise DataError(f"{self.name}/{self.language}: qrels name query id {qid!r} absent from the queries")
            absent = [did for did in rels if did not in self.corpus]
            if absent and qid not in self.missing_gold:
                raise DataError(
                    f"{self.name}/{self.language}: qrels of query {qid!r} name doc ids {absent[:3]} absent from the corpus"
                )
        no_rel = [qid for qid in self.queries if qid not in self.qrels and qid not in self.missing_gold]
        if no_rel:
            raise DataError(f"{self.name}/{self.language}: queries without qrels: {no_rel[:5]}")
        return self

    def take(self, n: int | None) -> "RetrievalTask":
        """The first ``n`` queries (file order; all when ``n`` is None) with their qrels and translations; the
        corpus is kept whole."""
        if n is None or n >= len(self.queries):
            return self
        keep = list(self.queries)[:n]
        return RetrievalTask(self.name, self.language, self.corpus, {q: self.queries[q] for q in keep},
                             {q: self.qrels[q] for q in keep if q in self.qrels},
                             {q: self.translations[q] for q in keep if q in self.translations},
                             self.missing_gold & set(keep))


@dataclass
class Bitext:
    """Aligned sentence pairs: ``source[i]`` (language ``language``) translates to ``target[i]`` (English).

    ``counts`` records where the pairs came from and how many were removed (leakage, duplicates).
    """

    language: str
    source: list[str]
    target: list[str]
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.source) != len(self.target):
            raise DataError(
                f"mismatched bitext for {self.language}: {len(self.source)} source vs {len(self.target)} target sentences"
            )
        for i, (s, t) in enumerate(zip(self.source, self.target)):
            if not s.strip() or not t.strip():
                raise DataError(f"bitext for {self.language}: empty sentence in pair {i}")

    def __len__(self) -> int:
        return len(self.source)

    def take(self, n: int | None) -> "Bitext":
        """The first ``n`` pairs (all when ``n`` is None); the builder already shuffled them."""
        if n is None or n >= len(self):
            return self
        return Bitext(self.language, self.source[:n], self.target[:n], {**self.counts, "capped_to": n})
