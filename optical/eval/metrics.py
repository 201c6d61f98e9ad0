"""Retrieval metrics through ``ir-measures`` (pytrec_eval backend).

Measures: ``RR@10`` (reported as MRR@10), ``nDCG@10``, ``R@100``. Every query of the task
counts: a query missing from the run, with an empty ranking, or whose relevant document is
absent from the corpus scores 0 (ir-measures alone would silently skip it).

Tie rule (ours, stated and tested): documents are ranked by score descending, then by
document id *ascending*. We apply it before calling ir-measures, replacing scores by
strictly decreasing rank scores, because ir-measures' providers disagree on ties: with
ir-measures 0.4.3 ``RR`` breaks them by ascending id and ``nDCG`` (trec_eval) by descending
id, so one run could be two rankings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import ir_measures
import numpy as np
from ir_measures import R, RR, nDCG

if TYPE_CHECKING:  # a type alias only: reading results needs no torch
    from optical.retrieval.dense import Run

MEASURES = {"MRR@10": RR @ 10, "nDCG@10": nDCG @ 10, "R@100": R @ 100}


def rank_with_ties(scores: dict[str, float]) -> list[str]:
    """Document ids ranked by score descending, then id ascending."""
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]


def _untied(scores: dict[str, float]) -> dict[str, float]:
    ranked = rank_with_ties(scores)
    return {d: float(len(ranked) - i) for i, d in enumerate(ranked)}


def per_query(qrels: dict[str, dict[str, int]], run: Run, query_ids: list[str]) -> dict[str, dict[str, float]]:
    """``{measure name: {query id: value}}`` for every id in ``query_ids`` (0 where not scorable)."""
    values = {name: dict.fromkeys(query_ids, 0.0) for name in MEASURES}
    wanted = set(query_ids)
    sub_qrels = {q: rels for q, rels in qrels.items() if q in wanted and rels}
    sub_run = {q: _untied(docs) for q, docs in run.items() if q in sub_qrels and docs}
    if sub_run:
        by_measure = {m: name for name, m in MEASURES.items()}
        for metric in ir_measures.iter_calc(list(MEASURES.values()), sub_qrels, sub_run):
            values[by_measure[metric.measure]][metric.query_id] = float(metric.value)
    return values


def aggregate(values: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean of each measure over its queries, plus ``n_queries``."""
    out = {name: float(np.mean(list(v.values()))) if v else float("nan") for name, v in values.items()}
    out["n_queries"] = len(next(iter(values.values()))) if values else 0
    return out


def macro_average(per_language: dict[str, dict[str, float]]) -> dict[str, float]:
    """Unweighted mean over languages of each measure."""
    names = [n for n in MEASURES if all(n in m for m in per_language.values())]
    return {n: float(np.mean([m[n] for m in per_language.values()])) for n in names}


def gap_closure(student: float, floor: float, ceiling: float) -> float:
    """``(student - floor) / (ceiling - floor)``: 0 at the zero-shot floor, 1 at the translate-test ceiling."""
    if ceiling == floor:
        raise ValueError("gap closure is undefined when ceiling equals floor")
    return (student - floor) / (ceiling - floor)
