"""AfriQA-CLIR (benchmark.md §1): African-language queries, English gold passages.

Files: ``afriqa/queries/<L>/queries.afriqa.<L>.<pivot>.<split>.json`` and
``afriqa/gold_passages/<L>/gold_span_passages.afriqa.<L>.<pivot>.<split>.json``
(JSON Lines despite the suffix). Query and gold records join on (L, split, str(id)).
"""

from __future__ import annotations


import logging
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from optical.data.jsonl import read_jsonl
from optical.data.mafand import TRAINING_SPLITS as MAFAND_TRAINING_SPLITS
from optical.data.mafand import load_mafand
from optical.data.paths import GET_DATA, data_dir
from optical.data.schema import (BITEXT_VERSION, Bitext, DataError, RetrievalTask, leakage_key, matching_key,
                                 normalize_text, passage_id)

log = logging.getLogger(__name__)

PIVOT = {"bem": "en", "hau": "en", "ibo": "en", "kin": "en", "swa": "en", "twi": "en", "yor": "en", "zul": "en",
         "fon": "fr", "wol": "fr"}
LANGUAGES = ("hau", "ibo", "yor", "swa", "zul", "kin", "twi", "bem")
"""The default: the 8 English-pivot languages (fon, wol have French passages and stay loadable)."""
SPLITS = ("train", "dev", "test")
DATASETS = {
    "afriqa": "every language against one corpus, the gold passages of all 8 languages (the benchmark)",
    "afriqa-own": "each language against its own language's gold passages only (300-1,100 passages instead of "
                  "5,363: a quick look, easier, not the benchmark)",
    "afriqa-mini": "afriqa-own with the first 50 questions of each split per language (a smoke test of the code: "
                   "its numbers measure nothing)",
}
"""Dataset names served by this module and the corpus each one retrieves from."""
MINI_QUERIES = 50
"""Questions per split and language in ``afriqa-mini``."""


def check_languages(languages: list[str] | tuple[str, ...], allowed: tuple[str, ...] = tuple(PIVOT)) -> list[str]:
    """Return ``languages`` as a list, or raise naming the unknown codes and the valid ones."""
    unknown = [lang for lang in languages if lang not in allowed]
    if unknown:
        raise DataError(f"unknown AfriQA language code(s) {unknown}; valid codes: {', '.join(allowed)}")
    if not languages:
        raise DataError(f"no language given; valid codes: {', '.join(allowed)}")
    return list(languages)


def _root(root: str | Path | None) -> Path:
    path = data_dir(root) / "afriqa"
    if not (path / "queries").is_dir():
        raise DataError(f"AfriQA queries not found under {path / 'queries'}. {GET_DATA}")
    return path


def query_file(lang: str, split: str, root: str | Path | None = None) -> Path:
    return _root(root) / "queries" / lang / f"queries.afriqa.{lang}.{PIVOT[lang]}.{split}.json"


def gold_file(lang: str, split: str, root: str | Path | None = None) -> Path:
    return _root(root) / "gold_passages" / lang / f"gold_span_passages.afriqa.{lang}.{PIVOT[lang]}.{split}.json"


@dataclass(frozen=True)
class Query:
    id: str
    question: str
    translation: str
    gold_title: str | None = None
    gold_context: str | None = None
    has_gold_record: bool = False

    @property
    def gold_text(self) -> str | None:
        """``title + ". " + context`` of the gold passage, or None when it is empty."""
        if not self.gold_context:
            return None
        return f"{self.gold_title}. {self.gold_context}" if self.gold_title else self.gold_context

    @property
    def gold_id(self) -> str | None:
        return passage_id(self.gold_title or "", self.gold_context) if self.gold_context else None


@lru_cache(maxsize=64)
def _load_queries_cached(lang: str, split: str, root: str) -> tuple[Query, ...]:
    qpath = query_file(lang, split, root)
    gold: dict[str, dict] = {}
    gpath = gold_file(lang, split, root)
    if gpath.is_file():
        gold = {str(r["id"]): r for r in read_jsonl(gpath)}
    queries = []
    for record in read_jsonl(qpath):
        qid = str(record["id"])
        g = gold.get(qid)
        context = normalize_text(g["context"]) if g and g.get("context") else ""
        title = normalize_text(g["title"]) if g and g.get("title") else ""
        queries.append(
            Query(
                id=qid,
                question=normalize_text(record["question"]),
                translation=normalize_text(record["translated_question"]),
                gold_title=title or None,
                gold_context=context or None,
                has_gold_record=g is not None,
            )
        )
    return tuple(queries)


def load_queries(lang: str, split: str, root: str | Path | None = None) -> tuple[Query, ...]:
    """Every query of (``lang``, ``split``) joined with its gold record (NFC-normalised)."""
    check_languages([lang])
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; valid: {SPLITS}")
    return _load_queries_cached(lang, split, str(data_dir(root)))


def load_corpus(languages: list[str] | tuple[str, ...] = LANGUAGES, root: str | Path | None = None) -> dict[str, str]:
    """Every distinct non-empty gold passage of ``languages`` over all splits: id -> ``title + ". " + context``.

    Ids are :func:`passage_id` of the NFC-normalised, stripped (title, context); empty contexts are dropped.
    """
    corpus: dict[str, str] = {}
    for lang in check_languages(languages):
        for split in SPLITS:
            for query in load_queries(lang, split, root):
                if query.gold_context:
                    corpus[query.gold_id] = query.gold_text
    return dict(sorted(corpus.items()))


def load_task(lang: str, split: str = "test", root: str | Path | None = None,
              corpus: dict[str, str] | None = None) -> RetrievalTask:
    """The CLIR task of one language: the ``split`` queries that have a gold record.

    A query whose gold record holds no passage stays in the task and counts as a
    miss (as in the benchmark's reference rows); a query with an empty question text is
    dropped with a warning (one in twi dev). Raises if the split has no gold file.
    """
    check_languages([lang])
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; valid: {SPLITS}")
    if not gold_file(lang, split, root).is_file():
        raise DataError(f"AfriQA {lang} has no gold passages for the {split} split ({gold_file(lang, split, root)})")
    corpus = load_corpus(LANGUAGES if lang in LANGUAGES else (lang,), root) if corpus is None else corpus
    queries, qrels, translations, missing = {}, {}, {}, set()
    empty = []
    for query in load_queries(lang, split, root):
        if not query.has_gold_record:
            continue
        if not query.question:
            empty.append(query.id)  # an empty question cannot be encoded: dropped, and said so
            continue
        queries[query.id] = query.question
        translations[query.id] = query.translation
        if query.gold_id is None:
            missing.add(query.id)
        else:
            qrels[query.id] = {query.gold_id: 1}
    if empty:
        _warn_empty_questions(lang, split, tuple(empty))
    return RetrievalTask(f"afriqa-{split}", lang, corpus, queries, qrels, translations, missing).validate()


@lru_cache(maxsize=None)
def _warn_empty_questions(lang: str, split: str, ids: tuple[str, ...]) -> None:
    """Said once per process (a study loads the same split many times)."""
    log.warning("AfriQA %s %s: dropped %d queries with an empty question text (ids %s)", lang, split, len(ids),
                list(ids))


def load_tasks(languages: list[str] | tuple[str, ...], split: str = "test", root: str | Path | None = None,
               dataset: str = "afriqa") -> dict[str, RetrievalTask]:
    """One task per language of ``dataset`` (a key of :data:`DATASETS`), which decides the corpus."""
    if dataset not in DATASETS:
        raise DataError(f"unknown AfriQA dataset {dataset!r}; valid: {', '.join(DATASETS)}")
    check_languages(languages)
    if dataset in ("afriqa-own", "afriqa-mini"):
        n = MINI_QUERIES if dataset == "afriqa-mini" else None
        return {lang: load_task(lang, split, root, load_corpus([lang], root)).take(n) for lang in languages}
    pooled = all(lang in LANGUAGES for lang in languages)  # fon, wol (French passages) keep their own corpus
    corpus = load_corpus(LANGUAGES, root) if pooled else None
    return {lang: load_task(lang, split, root, corpus) for lang in languages}


def held_out_texts(lang: str, root: str | Path | None = None, key=leakage_key) -> set[str]:
    """Matching keys (``key``: :func:`optical.data.schema.leakage_key`, or a bitext version's
    :func:`optical.data.schema.matching_key`) of the texts no training pair of ``lang`` may hold.

    Every AfriQA dev and test question and its English translation, in *any* of the eight languages (twi
    repeats questions across splits, English translations recur across languages), and both sides of
    MAFAND's held-out dev split of ``lang`` (the second dev criterion; en-zul repeats dev sentences in test).
    """
    keys = {key(t) for other in LANGUAGES for split in ("dev", "test")
            for q in load_queries(other, split, root) for t in (q.question, q.translation)}
    keys |= {key(t) for pair in load_mafand(lang, root, splits=("dev",)) for t in pair}
    keys.discard("")
    return keys


def build_bitext(lang: str, root: str | Path | None = None, seed: int = 0, mafand: bool = True,
                 afriqa_questions: bool = True, questions_first: bool = True, version: int = BITEXT_VERSION) -> Bitext:
    """Training bitext for ``lang`` (benchmark.md §1): MAFAND-MT train + test and AfriQA *train* question pairs.

    Dev is never training data: MAFAND's dev split is held out, AfriQA dev questions are not used, and every
    pair whose L text or English text matches a :func:`held_out_texts` entry (:func:`leakage_key`: punctuation,
    case and zero-width characters aside) is removed, then pairs with no content and duplicate pairs (same keys);
    the rest is shuffled with ``seed``. ``counts`` reports each source and removal.

    ``questions_first`` (our choice) puts the in-domain AfriQA question pairs before the news
    sentences after shuffling each group, so that a cap on pairs (:meth:`Bitext.take`) keeps them. ``version``:
    the rules of :data:`optical.data.schema.BITEXT_VERSIONS` (2: NFC case-folded matching, exact duplicates).
    """
    check_languages([lang], LANGUAGES)
    key_of = matching_key(version)
    held_out = held_out_texts(lang, root, key_of)
    raw: list[tuple[str, str, str]] = []
    if mafand:
        raw += [("mafand", s, t) for s, t in load_mafand(lang, root, splits=MAFAND_TRAINING_SPLITS)]
    if afriqa_questions:
        raw += [("afriqa_train", q.question, q.translation) for q in load_queries(lang, "train", root)]
    counts = {"mafand": 0, "afriqa_train": 0, "removed_leakage": 0, "removed_duplicates": 0, "removed_empty": 0}
    seen, pairs, origins = set(), [], []
    for origin, src, tgt in raw:
        counts[origin] += 1
        src, tgt = normalize_text(src), normalize_text(tgt)
        key = (key_of(src), key_of(tgt))
        same = key if version >= 3 else (src, tgt)  # version 2 removed exact duplicates only
        if not all(key):  # empty, or nothing but punctuation
            counts["removed_empty"] += 1
        elif key[0] in held_out or key[1] in held_out:
            counts["removed_leakage"] += 1
        elif same in seen:
            counts["removed_duplicates"] += 1
        else:
            seen.add(same)
            pairs.append((src, tgt))
            origins.append(origin)
    order = list(range(len(pairs)))
    random.Random(seed).shuffle(order)
    if questions_first:
        order.sort(key=lambda i: origins[i] == "mafand")  # stable: keeps the shuffle within each group
    pairs = [pairs[i] for i in order]
    counts["pairs"] = len(pairs)
    log.info("bitext %s: %s", lang, counts)
    return Bitext(lang, [s for s, _ in pairs], [t for _, t in pairs], counts)


def mafand_dev(lang: str, root: str | Path | None = None, max_pairs: int | None = None,
               version: int = BITEXT_VERSION) -> Bitext:
    """MAFAND's held-out dev split of ``lang`` for bitext retrieval (L sentence -> its English source).

    NFC-normalised; a pair whose L or English text repeats an earlier one (the matching key of bitext ``version``)
    or has no content is dropped, so every English
    sentence has exactly one source (the retrieval target is unambiguous). Empty when MAFAND lacks ``lang``.
    """
    check_languages([lang], LANGUAGES)
    key_of = matching_key(version)
    seen_src, seen_tgt, src_out, tgt_out = set(), set(), [], []
    for src, tgt in load_mafand(lang, root, splits=("dev",)):
        src, tgt = normalize_text(src), normalize_text(tgt)
        key_src, key_tgt = key_of(src), key_of(tgt)
        if key_src and key_tgt and key_src not in seen_src and key_tgt not in seen_tgt:
            seen_src.add(key_src)
            seen_tgt.add(key_tgt)
            src_out.append(src)
            tgt_out.append(tgt)
    bitext = Bitext(lang, src_out, tgt_out, {"mafand_dev": len(src_out)})
    return bitext.take(max_pairs)
