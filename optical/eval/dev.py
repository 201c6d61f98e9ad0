"""Dev criteria for checkpoint selection, given to the trainer as a callback.

Two criteria, named for what they measure rather than for a dataset, neither of which reuses a training sentence
(benchmark.md §1):

* ``queries`` — **dev query retrieval**: MRR@10 of the student's dev queries (AfriQA dev, WebFAQ dev…) against the
  teacher's document matrix (computed once per corpus and kept), per language and their macro mean;
* ``bitext`` — **held-out bitext retrieval** (MAFAND's dev split for AfriQA): each L sentence, encoded by the
  student, retrieves its English source among all English sentences of the split, encoded by the teacher (MRR
  per language as ``bitext_<lang>``, top-1 as ``bitext_top1_<lang>``, and their macro means).

The selection score (``"macro"`` in the returned dict) is the query criterion by default (``select="queries"``),
the bitext criterion (``"bitext"``), or their mean (``"mean"``).
"""

from __future__ import annotations

import numpy as np
import torch

from optical.config import DEV_CRITERIA
from optical.data.schema import Bitext, RetrievalTask
from optical.eval.metrics import aggregate, per_query
from optical.retrieval.dense import encode_with, exact_search, teacher_documents


def bitext_retrieval(source: np.ndarray, target: np.ndarray) -> dict[str, float]:
    """Top-1 accuracy and MRR of retrieving ``target[i]`` for ``source[i]`` among all rows of ``target``.

    ``source`` ``(n, d)`` and ``target`` ``(n, d)`` are normalised embeddings; ties count against the
    query (rank = 1 + number of targets scoring at least as high, the gold excluded).
    """
    if source.shape != target.shape or source.ndim != 2 or len(source) == 0:
        raise ValueError(f"source and target must be non-empty (n, d) matrices of one shape; got "
                         f"{source.shape}, {target.shape}")
    scores = torch.from_numpy(np.ascontiguousarray(source, np.float32)) @ \
        torch.from_numpy(np.ascontiguousarray(target, np.float32)).T
    gold = scores.diagonal()[:, None]
    rank = 1 + (scores >= gold).sum(1) - 1  # the gold itself is >= gold once
    return {"top1": float((rank == 1).float().mean()), "mrr": float((1.0 / rank.float()).mean())}


class DevEvaluator:
    """Scores a student query encoder (a ``SentenceTransformer``) on the dev criteria.

    ``tasks``: AfriQA-style dev retrieval tasks per language (may be empty); ``bitexts``: held-out bitext per
    language (languages with no pair are skipped). Teacher document matrices and the teacher's English
    vectors of the bitext are computed on the first call and reused.
    """

    def __init__(self, teacher_model, tasks: dict[str, RetrievalTask] | None = None,
                 bitexts: dict[str, Bitext] | None = None, select: str = "queries"):
        if select not in DEV_CRITERIA:
            raise ValueError(f"unknown dev selection {select!r}; choose one of {DEV_CRITERIA}")
        self.teacher, self.select = teacher_model, select
        self.tasks = dict(tasks or {})
        self.bitexts = {lang: b for lang, b in (bitexts or {}).items() if len(b)}
        if not self.tasks and not self.bitexts:
            raise ValueError("a dev evaluator needs at least one dev task or held-out bitext")
        if select != "bitext" and not self.tasks:
            raise ValueError(f"dev selection {select!r} needs dev query tasks; none given (use select='bitext')")
        if select != "queries" and not self.bitexts:
            raise ValueError(f"dev selection {select!r} needs held-out bitext; none given")
        self._docs: dict[int, np.ndarray] = {}
        self._english: dict[str, np.ndarray] = {}

    def _doc_matrix(self, corpus: dict[str, str]) -> np.ndarray:
        if id(corpus) not in self._docs:  # the languages of a dataset usually share one corpus
            self._docs[id(corpus)] = teacher_documents(self.teacher, corpus)
        return self._docs[id(corpus)]

    @torch.no_grad()
    def __call__(self, student_model) -> dict[str, float]:
        scores: dict[str, float] = {}
        for lang, task in self.tasks.items():
            qids = list(task.queries)
            run = exact_search(encode_with(student_model, [task.queries[q] for q in qids]),
                               self._doc_matrix(task.corpus), qids, sorted(task.corpus), k=10)
            scores[lang] = aggregate(per_query(task.qrels, run, qids))["MRR@10"]
        queries = float(np.mean([scores[lang] for lang in self.tasks])) if self.tasks else None
        bitext = None
        if self.bitexts:
            for lang, pairs in self.bitexts.items():
                if lang not in self._english:
                    self._english[lang] = encode_with(self.teacher, pairs.target)
                result = bitext_retrieval(encode_with(student_model, pairs.source), self._english[lang])
                scores[f"bitext_{lang}"], scores[f"bitext_top1_{lang}"] = result["mrr"], result["top1"]
            bitext = float(np.mean([scores[f"bitext_{lang}"] for lang in self.bitexts]))
            scores["bitext"] = bitext
            scores["bitext_top1"] = float(np.mean([scores[f"bitext_top1_{lang}"] for lang in self.bitexts]))
        if queries is not None:
            scores["queries"] = queries
        scores["macro"] = {"queries": queries, "bitext": bitext,
                           "mean": None if queries is None or bitext is None else (queries + bitext) / 2}[self.select]
        return scores
