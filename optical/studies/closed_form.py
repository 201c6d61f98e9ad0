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
from optical.eval.selection import dev_chosen_map
from optical.eval.system import query_translations
from optical.data.schema import BITEXT_VERSION
from optical.data.training import dev_tasks, student_train_params, training_bitext
from optical.layout import Layout
from optical.retrieval.dense import cached_matrix, encode_with, exact_search, teacher_documents
from optical.transport.linear_maps import RIDGED, fit_map, ridge_scale, well_posed_without_ridge

log = logging.getLogger(__name__)

DEFAULTS = {"sizes": [100, 300, 1000, 4000], "ridges": [0.0, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0],
            "bitext_max_length": 128, "seed": 0,
            "bitext_version": BITEXT_VERSION,
            "maps": ["identity", "mean-shift", "gaussian-ot", "procrustes", "procrustes-centred", "lstsq",
                     "lstsq-centred"]}


ON_STUDENTS = {"reg": 1e-4, "bitext_max_length": 128, "seed": 0}
"""Settings of :func:`maps_on_students`: an absolute ridge fixed before any read (its reads were made before the
ridge was chosen on dev, and their students are not kept, so they stay as they were made)."""


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


def _read(mapped: np.ndarray, docs: np.ndarray, doc_ids: list[str], task, qids: list[str]
          ) -> tuple[dict[str, float], dict[str, float]]:
    """The read's MRR@10, nDCG@10 and query count, and each query's reciprocal rank (RR@10)."""
    values = per_query(task.qrels, exact_search(mapped, docs, qids, doc_ids, k=100), qids)
    return {k: v for k, v in aggregate(values).items() if k in ("MRR@10", "nDCG@10", "n_queries")}, values["MRR@10"]


def _macro(cell: dict) -> dict:
    return {**cell, "macro": {m: float(np.mean([v[m] for v in cell["languages"].values()]))
                              for m in ("MRR@10", "nDCG@10")}}


def ridges_for(kind: str, n: int, d: int, settings: dict) -> list[float | None]:
    """The ridges map ``kind`` is fit with on ``n`` pairs of dimension ``d``: ``[None]`` for a map without one;
    ``settings["ridges"]`` (relative: :func:`optical.transport.linear_maps.ridge_scale`) to choose from on dev, 0
    only where the fit is well-posed; or ``settings["reg"]`` alone, an absolute ridge fixed in advance."""
    if kind not in RIDGED:
        return [None]
    if "ridges" not in settings:
        return [settings["reg"]]
    return [r for r in settings["ridges"] if r > 0 or well_posed_without_ridge(kind, n, d)]


def _fit(kind: str, x: np.ndarray, y: np.ndarray, ridge: float | None, settings: dict):
    if ridge is None:
        return fit_map(kind, x, y)
    return fit_map(kind, x, y, ridge * ridge_scale(kind, x) if "ridges" in settings else ridge)


def closed_form_space(space: str, spec: dict, languages: list[str], settings: dict, dataset: str = "afriqa",
                      splits: tuple[str, ...] = ("dev", "test")) -> dict:
    """Reads on ``splits`` of every map of ``settings["maps"]`` at every size for one space (see module doc).

    A map with a ridge is fit at each ridge of :func:`ridges_for`; with several, the one of the best macro dev
    MRR@10 is kept per map and size (one ridge for every language), and the other splits are read at it only.
    Each cell records its ``ridge`` and, on dev, ``dev_by_ridge`` (macro MRR@10 at each ridge tried)."""
    start = time.time()
    source_model = _load(spec["query_encoder"])
    target_model = source_model if spec["target_encoder"] == spec["query_encoder"] else _load(spec["target_encoder"])
    tasks_by_split = {split: dev_tasks(dataset, languages) if split == "dev" else load_tasks(dataset, languages, split)
                      for split in splits}
    corpus = next(task for tasks in tasks_by_split.values() for task in tasks.values()).corpus
    doc_ids, docs = sorted(corpus), teacher_documents(target_model, corpus)
    english = spec.get("queries") == "english"  # the map's ceiling: the human translations of the queries
    fits, queries, pairs = {}, {}, {}
    for lang in languages:
        bitext = training_bitext(dataset, [lang], max(settings["sizes"]), settings["seed"],
                                 version=settings["bitext_version"])[0]
        pairs[lang] = len(bitext)
        fit_source = bitext.target if spec.get("fit_on") == "english" else bitext.source
        fits[lang] = (encode_sentences(source_model, fit_source, settings["bitext_max_length"]),
                      encode_sentences(target_model, bitext.target, settings["bitext_max_length"]))
        for split, tasks in tasks_by_split.items():
            if lang in tasks:
                qids = list(tasks[lang].queries)
                texts = query_translations(tasks[lang], qids) if english else [tasks[lang].queries[q] for q in qids]
                queries[split, lang] = (qids, tasks[lang], encode_with(source_model, texts))
        log.info("closed-form maps, %s, %s: %d pairs", space, lang, len(bitext))

    fitted: dict[tuple, object] = {}  # one fit per language and ridge of the size and map at hand

    def read(split: str, size: int, kind: str, ridge: float | None) -> dict:
        cell, rr = {"languages": {}}, {}
        for lang, (x, y) in fits.items():
            if (split, lang) in queries:
                qids, task, vectors = queries[split, lang]
                if (lang, size, kind, ridge) not in fitted:
                    fitted[lang, size, kind, ridge] = _fit(kind, x[:size], y[:size], ridge, settings)
                cell["languages"][lang], rr[lang] = _read(fitted[lang, size, kind, ridge](vectors), docs, doc_ids,
                                                          task, qids)
        return {**_macro(cell), "ridge": ridge, "per_query": rr}

    reads: dict[str, dict] = {split: {} for split in splits}
    d = next(iter(fits.values()))[0].shape[1]  # the source's dimension
    for size in settings["sizes"]:
        n = min(size, min(pairs.values()))
        for kind in settings["maps"]:
            fitted.clear()  # the fits of one size and map: its dev reads, then the test read at the chosen ridge
            ridges = ridges_for(kind, n, d, settings)
            if not ridges:
                raise ValueError(f"{space}: no ridge of {settings['ridges']} is usable for {kind} at {size} pairs")
            tried = {}
            for r in ridges if "dev" in splits and len(ridges) > 1 else ():
                try:
                    tried[r] = read("dev", size, kind, r)
                except (ValueError, np.linalg.LinAlgError):
                    if r != 0:
                        raise
                    log.info("%s: %s at %d pairs is singular without a ridge: left out", space, kind, size)
            ridge = max(tried, key=lambda r: tried[r]["macro"]["MRR@10"]) if tried else ridges[0]
            for split in splits:
                cell = tried[ridge] if split == "dev" and tried else read(split, size, kind, ridge)
                if tried and split == "dev":
                    cell = {**cell, "dev_by_ridge": {str(r): t["macro"]["MRR@10"] for r, t in tried.items()}}
                reads[split].setdefault(str(size), {})[kind] = cell
        # per-query RR@10 is kept for the map dev chooses at this size only (the one compared with students)
        chosen = dev_chosen_map(reads["dev"], size)[1] if "dev" in reads else None
        for split in reads.values():
            for kind, cell in split[str(size)].items():
                if kind != chosen or split is reads.get("dev"):
                    cell.pop("per_query")
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
                                                                    "queries"} \
                or spec.get("fit_on", "l") not in ("l", "english") or spec.get("queries", "l") not in ("l", "english"):
            raise ValueError(f"closed_form.spaces.{space}: give query_encoder, target_encoder and optionally "
                             f"fit_on and queries (each l or english), got {spec}")
        params = {"dataset": p["dataset"], "languages": s["languages"], "spec": spec, **settings}
        path = Layout(root).study("closed_form") / f"{space}.json"
        if (stored := store.stored(path, params, fresh)) is not None:
            out[space] = stored
            continue
        out[space] = store.store(path, params, closed_form_space(space, spec, s["languages"], settings, p["dataset"]))
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
    settings = {**ON_STUDENTS, "sizes": [size], "maps": list(maps)}
    out = {}
    for student in students:
        train = student_train_params(p, key, student, teacher=False)  # the student's bitext
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


def students_against_maps(p: dict, root: str | Path = ".", fresh: bool = False) -> dict | None:
    """Is each final distilled student ahead of the best training-free map of its encoder? For every arm of
    ``p["abstract"]`` (its final ``study`` and closed-form ``space``) whose test reads and claim test are stored,
    each of the study's students (pooled readout, its seeds' per-query RR@10) against the space's map chosen on dev
    over maps, sizes and ridges (:func:`optical.eval.selection.best_closed_form`; one deterministic read: no seed
    variance) with :func:`optical.eval.macro.macro_comparison` at the statistics of the study's stored claim test
    (so a chapter that holds only the ``abstract`` section computes the same). Stored as
    ``results/closed_form/against/students.json``, keyed by a digest of its inputs; ``None`` when no arm is stored."""
    from optical.eval.macro import macro_comparison
    from optical.io import read_json, read_json_folder
    from optical.eval.selection import best_closed_form
    from optical.studies.seed_means import STATISTICS, significance_inputs

    layout, rows = Layout(root), []
    for arm in p.get("abstract") or []:
        space_path = layout.study("closed_form") / f"{arm['space']}.json"
        tested = read_json_folder(layout.tested(arm["study"])) if layout.tested(arm["study"]).is_dir() else {}
        if not space_path.is_file() or not tested:
            continue
        space = read_json(space_path)
        best = best_closed_form(space)
        cell = space["reads"]["test"][str(best["size"])][best["map"]]
        # the study's own margin, level and resamples, as its stored claim test against KD used them
        stats = next(({k: r["macro_test"][k] for k in STATISTICS} for r in tested.values() if "macro_test" in r),
                     None)
        if stats is None:
            continue
        for system, mean in sorted(tested.items()):
            if not system.endswith("-pooled") or system.split("-")[0] in ("teacher", "ceiling"):
                continue
            seeds = [read_json(layout.test_read(arm["study"], v, "pooled"))["per_query"]["MRR@10"]
                     for v in mean["params"]["variants"]]
            if set(seeds[0]) != set(cell["per_query"]):
                raise ValueError(f"{arm['study']}/{system}: languages {list(seeds[0])} differ from the map's "
                                 f"{list(cell['per_query'])}")
            ref = [{lang: cell["per_query"][lang] for lang in seeds[0]}]
            rows.append({"arm": arm["name"], "study": arm["study"], "student": system, "space": arm["space"],
                         "map": best["map"], "size": best["size"], "ridge": cell.get("ridge"), "statistics": stats,
                         "inputs": significance_inputs(seeds, ref, stats), "per_seed": seeds, "reference": ref})
    if not rows:
        return None
    params = {"comparisons": [{k: r[k] for k in ("arm", "study", "student", "space", "map", "size", "statistics",
                                                 "inputs")} for r in rows], "reference": "deterministic"}
    path = layout.study("closed_form") / "against" / "students.json"
    if (kept := store.stored(path, params, fresh)) is not None:
        return kept
    return store.store(path, params, {"rows": [
        {**{k: r[k] for k in ("arm", "study", "student", "space", "map", "size", "ridge")},
         "test": {**macro_comparison(r["per_seed"], r["reference"], r["statistics"]["margin"],
                                     r["statistics"]["alpha"], r["statistics"]["n_resamples"]),
                  "deterministic_reference": True}} for r in rows]})
