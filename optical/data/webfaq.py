"""WebFAQ-CLIR (benchmark.md §2): FAQ bitexts from the Hugging Face hub, split by web site.

Rows have ``language1, language2, origin, labse_similarity, question1, question2, answer1, answer2``;
for a pair (L, eng) in either order the L side and the English side are recognised by the language
fields. Split **by origin** (site), never by row: one site's templated FAQs are near-duplicates and
would leak between train and test.

* queries = the L questions of test sites; corpus = their English answers (plus optional English
  distractor answers); relevant = the aligned answer;
* training bitext = (L question, English question) pairs (and optionally answer pairs) of train sites,
  minus any pair whose L or English question equals a test question or its translation.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from optical.data.schema import Bitext, DataError, RetrievalTask, leakage_key, normalize_text

log = logging.getLogger(__name__)

HUB_REPOS = {"v1": "PaDaS-Lab/webfaq-bitexts", "v2": "michaeldinzinger/webfaq-v2"}
FIELDS = ("language1", "language2", "origin", "labse_similarity", "question1", "question2", "answer1", "answer2")
ENGLISH = "eng"


class WebFAQUnavailable(DataError):
    """Neither the hub nor a local directory can provide the data."""


def how_to_get(language: str) -> str:
    return (f"WebFAQ needs either network access to the Hugging Face hub ({HUB_REPOS['v1']}) or a local directory "
            f"of its parquet/JSONL files for the pair {language}-{ENGLISH}: "
            f"optical evaluate --dataset webfaq --languages {language} ... with OPTICAL_WEBFAQ_DIR=/path/to/files, "
            f"or run on a machine that reaches huggingface.co.")


@dataclass
class Pair:
    """One aligned FAQ, L side and English side."""

    origin: str
    labse: float
    question: str
    question_en: str
    answer: str
    answer_en: str


def orient(row: dict, language: str) -> Pair | None:
    """The row as (L, English), whichever order the languages are in; None for another pair."""
    missing = [f for f in FIELDS if f not in row]
    if missing:
        raise DataError(f"WebFAQ row lacks fields {missing}; expected {FIELDS}")
    l1, l2 = row["language1"], row["language2"]
    if (l1, l2) == (language, ENGLISH):
        q, qe, a, ae = row["question1"], row["question2"], row["answer1"], row["answer2"]
    elif (l1, l2) == (ENGLISH, language):
        q, qe, a, ae = row["question2"], row["question1"], row["answer2"], row["answer1"]
    else:
        return None
    texts = [normalize_text(t or "") for t in (q, qe, a, ae)]
    if not all(texts):
        return None
    return Pair(str(row["origin"]), float(row["labse_similarity"]), *texts)


def hub_config(repo: str, language: str) -> str:
    """The hub config holding (L, eng), looked up at load time in either order."""
    import datasets

    names = datasets.get_dataset_config_names(repo)
    for name in names:
        codes = set(name.replace("_", "-").split("-"))
        if codes == {language, ENGLISH}:
            return name
    raise DataError(f"{repo} has no config for {language}-{ENGLISH}; it offers {len(names)} configs, e.g. "
                    f"{sorted(names)[:10]}")


def load_rows(language: str, local_dir: str | Path | None = None, version: str = "v1",
              max_rows: int | None = None) -> list[dict]:
    """Raw rows for (L, eng): from ``local_dir`` (parquet/JSONL files) if given, else from the hub."""
    import datasets

    if local_dir is not None:
        folder = Path(local_dir)
        files = sorted(folder.rglob("*.parquet")) or sorted(folder.rglob("*.jsonl")) or sorted(folder.rglob("*.json"))
        if not files:
            raise WebFAQUnavailable(f"no parquet or JSONL files under {folder}. {how_to_get(language)}")
        kind = "parquet" if files[0].suffix == ".parquet" else "json"
        data = datasets.load_dataset(kind, data_files=[str(f) for f in files], split="train")
    else:
        from optical import env

        if not env.hub_reachable():
            raise WebFAQUnavailable(f"the Hugging Face hub is unreachable. {how_to_get(language)}")
        repo = HUB_REPOS[version]
        data = datasets.load_dataset(repo, hub_config(repo, language), split="train")
    if max_rows is not None:
        data = data.select(range(min(max_rows, len(data))))
    return list(data)


@dataclass
class WebFAQSplit:
    """Train bitext, dev and test tasks of one language, with the counts of every step."""

    language: str
    train: Bitext
    dev: RetrievalTask
    test: RetrievalTask
    sites: dict[str, list[str]]
    counts: dict[str, int] = field(default_factory=dict)


def _doc_id(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:16]


def _task(name: str, language: str, pairs: list[Pair], distractors: list[str]) -> RetrievalTask:
    corpus = {_doc_id(t): t for t in distractors}
    queries, qrels, translations = {}, {}, {}
    for i, pair in enumerate(pairs):
        doc = _doc_id(pair.answer_en)
        corpus[doc] = pair.answer_en
        qid = f"q{i}"
        queries[qid], translations[qid], qrels[qid] = pair.question, pair.question_en, {doc: 1}
    return RetrievalTask(name, language, corpus, queries, qrels, translations).validate()


def build_clir(rows: list[dict], language: str, min_labse: float = 0.0, ratios: tuple[float, float] = (0.1, 0.1),
               seed: int = 0, answer_pairs: bool = False, distractors: list[str] | None = None) -> WebFAQSplit:
    """Split ``rows`` of (L, eng) by site into train / dev / test and build the tasks and bitext.

    ``ratios`` are the dev and test shares of *sites* (at least one site each); sites are shuffled
    with ``seed``. Rows below ``min_labse`` and exact repeats of (question, question_en, answer_en)
    are dropped first.
    """
    counts = {"rows": len(rows), "other_pairs_or_empty": 0, "below_labse": 0, "duplicates": 0}
    seen, pairs = set(), []
    for row in rows:
        pair = orient(row, language)
        if pair is None:
            counts["other_pairs_or_empty"] += 1
        elif pair.labse < min_labse:
            counts["below_labse"] += 1
        elif (key := (pair.question, pair.question_en, pair.answer_en)) in seen:
            counts["duplicates"] += 1
        else:
            seen.add(key)
            pairs.append(pair)
    sites = sorted({p.origin for p in pairs})
    if len(sites) < 3:
        raise DataError(f"WebFAQ {language}: {len(sites)} site(s) after filtering; a site split needs at least 3")
    random.Random(seed).shuffle(sites)
    n_dev, n_test = (max(1, round(r * len(sites))) for r in ratios)
    split_sites = {"test": sites[:n_test], "dev": sites[n_test:n_test + n_dev], "train": sites[n_test + n_dev:]}
    if not split_sites["train"]:
        raise DataError(f"WebFAQ {language}: no site left for training with ratios {ratios} over {len(sites)} sites")
    by_split = {name: [p for p in pairs if p.origin in set(s)] for name, s in split_sites.items()}
    held_out = {leakage_key(t) for name in ("dev", "test") for p in by_split[name]
                for t in (p.question, p.question_en)}
    source, target, leaked = [], [], 0
    for p in by_split["train"]:
        if leakage_key(p.question) in held_out or leakage_key(p.question_en) in held_out:
            leaked += 1
            continue
        source.append(p.question)
        target.append(p.question_en)
        if answer_pairs:
            source.append(p.answer)
            target.append(p.answer_en)
    counts.update(pairs=len(pairs), sites=len(sites), removed_leakage=leaked,
                  **{f"{name}_sites": len(s) for name, s in split_sites.items()},
                  **{f"{name}_rows": len(v) for name, v in by_split.items()})
    train = Bitext(language, source, target, {"pairs": len(source), "removed_leakage": leaked})
    extra = distractors or []
    log.info("WebFAQ %s: %s", language, counts)
    return WebFAQSplit(language, train, _task("webfaq-dev", language, by_split["dev"], extra),
                       _task("webfaq-test", language, by_split["test"], extra), split_sites, counts)


@lru_cache(maxsize=16)
def load_split(language: str, seed: int = 0, min_labse: float = 0.0) -> WebFAQSplit:
    """The split of one language from ``$OPTICAL_WEBFAQ_DIR/<L>`` (or that folder) when set, else the hub."""
    local = os.environ.get("OPTICAL_WEBFAQ_DIR")
    if local and (Path(local) / language).is_dir():
        local = str(Path(local) / language)
    return build_clir(load_rows(language, local), language, min_labse=min_labse, seed=seed)
