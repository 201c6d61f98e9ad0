"""Training-free baselines: closed-form maps (:mod:`optical.transport.linear_maps`) fit on the training bitext and
applied to zero-shot query vectors, at several bitext sizes, read on dev and test.

A *space* names the encoder of the L side (queries and L sentences) and of the English side (English sentences and
passages): ``minilm`` (all-MiniLM-L6-v2 both), ``me5`` (multilingual-e5-small both) or a cross space such as
``me5-to-minilm`` (mE5 queries mapped into MiniLM's space: OPTICAL's e5s student at step 0, its projection fitted on
bitext pairs instead of English sentences; with ``fit_on: english`` the map is fit from the query encoder's
vectors of the *English* side instead, as `07_multilingual`'s e5s projection was; with ``queries: english`` the map is
applied to the query encoder's vectors of the human English translations of the queries instead of the queries in
L: the map's ceiling, what it could give a student that knew L perfectly). Each map is fit per language on the
first ``n`` pairs of that language's leakage-filtered bitext (the pairs a student of the same size trains on). Stored as
``results/closed_form/<space>.json``: dev and test MRR@10 per size, map and language, and the pair counts.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from optical import store
from optical.data.registry import load_tasks
from optical.eval.metrics import aggregate, per_query
from optical.eval.system import query_translations
from optical.data.schema import BITEXT_VERSION
from optical.data.training import dev_tasks, training_bitext, with_bitext_version
from optical.layout import Layout
from optical.retrieval.dense import cached_matrix, encode_with, exact_search, teacher_documents
from optical.transport.linear_maps import fit_map

log = logging.getLogger(__name__)

DEFAULTS = {"sizes": [100, 300, 1000, 4000], "reg": 1e-4, "bitext_max_length": 128, "seed": 0,
            "bitext_version": BITEXT_VERSION,
            "maps": ["identity", "mean-shift", "gaussian-ot", "procrustes", "procrustes-centred", "lstsq",
                     "lstsq-centred"]}


def _load(name: str):
    from optical.models import load_sentence_transformer

    return load_sentence_transformer(name, "cpu")


def encode_sentences(model, texts: list[str], max_length: int) -> np.ndarray:
    """``(n, d)`` query-side embeddings of bitext sentences at ``max_length`` tokens, cached on disk."""
    from optical.models import fingerprint

    keep, model.max_seq_length = model.max_seq_length, max_length
    try:
        rows = {f"{i:08d}": t for i, t in enumerate(texts)}
        return cached_matrix(f"bitext-len{max_length}", fingerprint(model), rows,
                             lambda batch: encode_with(model, batch, kind="query"))
    finally:
        model.max_seq_length = keep


def _read(mapped: np.ndarray, docs: np.ndarray, doc_ids: list[str], task, qids: list[str]) -> dict[str, float]:
    values = per_query(task.qrels, exact_search(mapped, docs, qids, doc_ids, k=100), qids)
    return {k: v for k, v in aggregate(values).items() if k in ("MRR@10", "nDCG@10", "n_queries")}


def closed_form_space(space: str, spec: dict, languages: list[str], settings: dict, dataset: str = "afriqa",
                      splits: tuple[str, ...] = ("dev", "test")) -> dict:
    """Reads on ``splits`` of every map of ``settings["maps"]`` at every size for one space (see module doc)."""
    start = time.time()
    source_model = _load(spec["query_encoder"])
    target_model = source_model if spec["target_encoder"] == spec["query_encoder"] else _load(spec["target_encoder"])
    splits = {split: dev_tasks(dataset, languages) if split == "dev" else load_tasks(dataset, languages, split)
              for split in splits}
    corpus = next(task for tasks in splits.values() for task in tasks.values()).corpus
    doc_ids, docs = sorted(corpus), teacher_documents(target_model, corpus)
    reads: dict[str, dict] = {split: {} for split in splits}
    pairs = {}
    for lang in languages:
        bitext = training_bitext(dataset, [lang], max(settings["sizes"]), settings["seed"],
                                 version=settings["bitext_version"])[0]
        pairs[lang] = len(bitext)
        fit_source = bitext.target if spec.get("fit_on") == "english" else bitext.source
        x = encode_sentences(source_model, fit_source, settings["bitext_max_length"])
        y = encode_sentences(target_model, bitext.target, settings["bitext_max_length"])
        queries = {split: (list(tasks[lang].queries), tasks[lang]) for split, tasks in splits.items() if lang in tasks}
        english = spec.get("queries") == "english"  # the map's ceiling: the human translations of the queries
        vectors = {split: encode_with(source_model, query_translations(task, qids) if english
                                      else [task.queries[q] for q in qids]) for split, (qids, task) in queries.items()}
        for size in settings["sizes"]:
            for kind in settings["maps"]:
                linear_map = fit_map(kind, x[:size], y[:size], settings["reg"])  # one fit, read on dev and test
                for split, (qids, task) in queries.items():
                    cell = reads[split].setdefault(str(size), {}).setdefault(kind, {"languages": {}})
                    cell["languages"][lang] = _read(linear_map(vectors[split]), docs, doc_ids, task, qids)
        log.info("closed-form maps, %s, %s: %d pairs", space, lang, len(bitext))
    for split in reads.values():
        for by_map in split.values():
            for cell in by_map.values():
                cell["macro"] = {m: float(np.mean([v[m] for v in cell["languages"].values()]))
                                 for m in ("MRR@10", "nDCG@10")}
    return {"space": space, "spec": spec, "pairs": pairs, "reads": reads, "wall_s": round(time.time() - start, 1)}


def closed_form_maps(p: dict, root: str | Path = ".", fresh: bool = False) -> dict[str, dict]:
    """Every space of ``p["closed_form"]["spaces"]`` (:func:`closed_form_space`), each stored as
    ``results/closed_form/<space>.json`` and read back when its parameters are unchanged."""
    s = p["closed_form"]
    settings = {**DEFAULTS, **{k: v for k, v in s.items() if k in DEFAULTS}}
    unknown = sorted(set(s) - set(DEFAULTS) - {"languages", "spaces"})
    if unknown:
        raise ValueError(f"closed_form: unknown keys {unknown}; valid: {sorted(DEFAULTS)}, languages, spaces")
    out = {}
    for space, spec in s["spaces"].items():
        if not {"query_encoder", "target_encoder"} <= set(spec) <= {"query_encoder", "target_encoder", "fit_on",
                                                                    "queries", "bitext_version"} \
                or spec.get("fit_on", "l") not in ("l", "english") or spec.get("queries", "l") not in ("l", "english"):
            raise ValueError(f"closed_form.spaces.{space}: give query_encoder, target_encoder and optionally "
                             f"fit_on and queries (each l or english) and bitext_version, got {spec}")
        own = {**settings, "bitext_version": spec.get("bitext_version", settings["bitext_version"])}
        spec = {k: v for k, v in spec.items() if k != "bitext_version"}
        params = {"dataset": p["dataset"], "languages": s["languages"], "spec": spec, **own}
        path = Layout(root).study("closed_form") / f"{space}.json"
        if (stored := store.stored(path, params, fresh)) is not None:
            out[space] = stored
            continue
        out[space] = store.store(path, params, closed_form_space(space, spec, s["languages"], own, p["dataset"]))
    return out


def maps_on_students(p: dict, key: str, students: list[str], maps: list[str], size: int, root: str | Path = ".",
                     fresh: bool = False) -> dict[str, dict]:
    """Does distillation already remove the offset a closed-form map corrects? For each trained student of dev
    study ``p[key]`` (its folder ``runs/<key>/<student>/student``), the maps ``maps`` (``identity`` included: the
    student as trained) fit on the first ``size`` pairs of each of the study's languages from the student's L
    vectors to the study's teacher's English vectors, applied to the student's queries, read on **dev** only (these
    are dev-study students). Stored as ``results/<key>/maps-on-<student>.json`` and read back once the student is
    gone."""
    s = p[key]
    teacher = s.get("teacher", p["teacher"])
    settings = {k: v for k, v in DEFAULTS.items() if k != "bitext_version"} | {"sizes": [size], "maps": list(maps)}
    out = {}
    for student in students:
        if student not in s["variants"]:
            raise ValueError(f"{key}: no student {student!r}; students: {sorted(s['variants'])}")
        train = with_bitext_version({**s["train"], **s["variants"][student]})  # the student's bitext
        params = {"study": key, "student": student, "train": train, "teacher": teacher, "languages": s["languages"],
                  "dataset": p["dataset"], **settings}
        path = Layout(root).study(key) / f"maps-on-{student}.json"
        if (stored := store.stored(path, params, fresh)) is not None:
            out[student] = stored
            continue
        folder = Layout(root).run(key, student) / "student"
        if not folder.is_dir():
            raise FileNotFoundError(f"{folder}: the student is not on this machine and no reads are stored for it; "
                                    f"run study {key!r} first")
        reads = closed_form_space(f"{key}/{student}", {"query_encoder": str(folder), "target_encoder": teacher},
                                  s["languages"], {**settings, "bitext_version": train["bitext_version"]},
                                  p["dataset"], ("dev",))
        reads["spec"]["query_encoder"] = f"runs/{key}/{student}/student"  # not this machine's path
        out[student] = store.store(path, params, reads)
    return out
